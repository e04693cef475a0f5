import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import type { InitSpec } from "../graph/init.js";
import type { Json } from "../graph/types.js";
import type { Padding2d } from "../tensor/conv-geometry.js";
import { checkPositiveInt, pair } from "../tensor/shape.js";
import {
  type Activation,
  activate,
  type BatchNormOptions,
  blockScope,
  checkActivation,
  meta,
  Sequential,
} from "./common.js";

/** Local names of the nodes of a conv-bn-act unit. */
export interface ConvBnActNames {
  conv?: string;
  bn?: string;
  act?: string;
}

/** Options shared by every block made of one conv (+ batch norm) (+ activation). */
export interface ConvBnActOptions {
  outChannels: number;
  kernelSize: number | readonly [number, number];
  stride?: number | readonly [number, number];
  /**
   * Default: `dilation * (kernel - 1) / 2` per axis, floored (the output keeps the input size at stride 1 for odd
   * kernels, as torchvision's Conv2dNormActivation). Anything nn.Conv2d takes, plus [top, left, bottom, right].
   */
  padding?: Padding2d;
  dilation?: number | readonly [number, number];
  groups?: number;
  /** Conv bias. Default: only without batch norm (a bias before BN is redundant). */
  bias?: boolean;
  /** Batch norm after the conv: true (default), false, or its options. */
  bn?: boolean | BatchNormOptions;
  /** Default "relu". */
  activation?: Activation;
  /** Initialisers of the conv's weight and bias (default: PyTorch's). */
  init?: { weight?: InitSpec; bias?: InitSpec };
  /** Local name of the block's scope (default generated: "conv_bn_act1", ...). */
  name?: string;
  /**
   * Build the nodes directly in the caller's scope, without a scope of their own (no `graph.scopes` entry):
   * for models whose reference implementation flattens conv, bn and activation into the parent module, like
   * torchvision's ResNet stem (`conv1`, `bn1`, `relu`) or VGG's `features.N`.
   */
  inline?: boolean;
  /**
   * Local node names: `{conv, bn, act}` (defaults "conv", "bn" and the activation's name), or a `Sequential`
   * counter that numbers the nodes actually created ("0", "1", "2"), like an nn.Sequential.
   */
  names?: ConvBnActNames | Sequential;
}

/** How a block kind is recorded in `graph.scopes`, for the convolution variants built on this unit. */
export interface UnitKind {
  kind: string;
  /** Base of generated scope names. */
  base: string;
  extra?: Record<string, Json>;
}

const CONV_BN_ACT: UnitKind = { kind: "convBnAct", base: "conv_bn_act" };

/**
 * Conv2d -> BatchNorm2d -> activation, the unit most CNNs are made of (torchvision's Conv2dNormActivation,
 * GoogLeNet's BasicConv2d). Returns the output value. MACs: Cout * Hout * Wout * (Cin / groups) * kH * kW.
 */
export function convBnAct(b: GraphBuilder, x: ValueRef, options: ConvBnActOptions): ValueRef {
  return convUnit(b, x, options, CONV_BN_ACT, "convBnAct");
}

/**
 * The conv-bn-act body under a given scope kind (dilated, grouped, pointwise... are this unit with a name that
 * says which mode it shows). Not exported from the package: use the named blocks.
 */
export function convUnit(
  b: GraphBuilder,
  x: ValueRef,
  o: ConvBnActOptions,
  unit: UnitKind,
  op: string,
): ValueRef {
  const kernelSize = pair(o.kernelSize, 1, op, "kernelSize", checkPositiveInt);
  const dilation = pair(o.dilation, 1, op, "dilation", checkPositiveInt);
  const stride = pair(o.stride, 1, op, "stride", checkPositiveInt);
  const activation = checkActivation(o.activation ?? "relu", op);
  const bn = o.bn ?? true;
  const padding =
    o.padding ??
    ([
      Math.floor((dilation[0] * (kernelSize[0] - 1)) / 2),
      Math.floor((dilation[1] * (kernelSize[1] - 1)) / 2),
    ] as [number, number]);
  const names = o.names;
  const nameOf = (role: keyof ConvBnActNames, fallback: string): string =>
    names instanceof Sequential ? names.next() : (names?.[role] ?? fallback);
  const body = (): ValueRef => {
    let y = b.conv2d(x, {
      name: nameOf("conv", "conv"),
      outChannels: o.outChannels,
      kernelSize,
      stride,
      padding,
      dilation,
      groups: o.groups ?? 1,
      bias: o.bias ?? bn === false,
      init: o.init,
    });
    if (bn !== false) {
      const spec = bn === true ? {} : bn;
      y = b.batchNorm2d(y, { name: nameOf("bn", "bn"), eps: spec.eps, momentum: spec.momentum });
    }
    if (activation !== "none") y = activate(b, y, activation, nameOf("act", activation));
    return y;
  };
  if (o.inline) return body();
  const info = meta({
    kernelSize,
    stride,
    dilation,
    groups: o.groups ?? 1,
    bn: bn !== false,
    activation,
    ...unit.extra,
  });
  return blockScope(b, o.name, unit.base, { kind: unit.kind, meta: info }, body);
}
