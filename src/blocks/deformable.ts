import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import type { OpAttrs } from "../graph/types.js";
import { type Padding2d, resolvePadding } from "../tensor/conv-geometry.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { checkPositiveInt, pair } from "../tensor/shape.js";
import { blockScope, channelsOf, meta, positiveInt } from "./common.js";

export interface DeformableConvOptions {
  outChannels: number;
  /** Default 3. */
  kernelSize?: number | readonly [number, number];
  stride?: number | readonly [number, number];
  /** Default: dilation*(k-1)/2 per axis (size kept at stride 1). */
  padding?: Padding2d;
  dilation?: number | readonly [number, number];
  /** Groups of the main conv's weight (default 1). */
  groups?: number;
  /** Input channels split into this many groups, each with its own offsets (and mask). Default 1. */
  offsetGroups?: number;
  /** DCNv2 (Zhu et al. 2019): also predict a modulation mask. Default false (DCNv1, Dai et al. 2017). */
  modulated?: boolean;
  /** Bias of the main conv (default true, like nn.Conv2d / torchvision's DeformConv2d). */
  bias?: boolean;
  /** Local name of the block's scope (default "deform_conv1", ...). */
  name?: string;
}

/**
 * Deformable convolution layer as a graph block, the same layer as `src/ops/deform-layer.ts`
 * (`initDeformableConv2d` + `deformableConv2d`), laid out like mmcv's DeformConv2dPack / ModulatedDeformConv2dPack:
 *
 * - `conv_offset`: a regular conv over the input with the main conv's kernel, stride, padding and dilation
 *   (groups 1, bias), predicting 2*offsetGroups*kH*kW offsets ((dy, dx) pairs, torchvision's layout) and, for
 *   v2, offsetGroups*kH*kW mask logits after them; weight and bias initialised to zero;
 * - v2: `split` into offsets and logits, mask = 2*sigmoid(logits) (nodes `mask_sigmoid`, and `mask` = s + s): the
 *   deform-layer convention, so that a fresh layer (logits 0, mask 1) computes exactly the plain conv;
 * - `deform_conv`: deformConv2d with the main weight and bias, stored as `<scope>.weight` / `<scope>.bias`, so the
 *   block's main parameters carry the name a plain conv in its place would have (torchvision ResNet's
 *   `layer2.0.conv2.weight` stays `layer2.0.conv2.weight`; the offset conv adds `layer2.0.conv2.conv_offset.*`).
 *
 * Parameters: Cout*Cin/g*kH*kW (+Cout) + B*Cin*kH*kW + B with B = (2 or 3)*offsetGroups*kH*kW.
 * MACs (conv formula for both, bilinear sampling not counted): (Cout*Cin/g + B*Cin) * kH*kW * Hout*Wout.
 */
export function deformableConv(b: GraphBuilder, x: ValueRef, o: DeformableConvOptions): ValueRef {
  const op = "deformableConv";
  const cIn = channelsOf(b, x, op);
  const kernelSize = pair(o.kernelSize, 3, op, "kernelSize", checkPositiveInt);
  const stride = pair(o.stride, 1, op, "stride", checkPositiveInt);
  const dilation = pair(o.dilation, 1, op, "dilation", checkPositiveInt);
  const groups = positiveInt(o.groups ?? 1, op, "groups");
  const offsetGroups = positiveInt(o.offsetGroups ?? 1, op, "offsetGroups");
  const cOut = positiveInt(o.outChannels, op, "outChannels");
  if (cIn % offsetGroups !== 0) {
    throw new ArgumentError(
      describe(op, "offsetGroups", `a divisor of the input channels (${cIn})`, offsetGroups),
    );
  }
  const padding = resolvePadding(
    o.padding ?? [
      Math.floor((dilation[0] * (kernelSize[0] - 1)) / 2),
      Math.floor((dilation[1] * (kernelSize[1] - 1)) / 2),
    ],
    kernelSize[0],
    kernelSize[1],
    dilation[0],
    dilation[1],
    stride[0],
    stride[1],
    op,
  );
  const modulated = o.modulated ?? false;
  const taps = kernelSize[0] * kernelSize[1];
  const bias = o.bias ?? true;
  const info = meta({
    version: modulated ? 2 : 1,
    offsetGroups,
    kernelSize,
    stride,
    dilation,
    groups,
    maskScale: modulated ? 2 : undefined,
  });
  return blockScope(b, o.name, "deform_conv", { kind: "deformableConv", meta: info }, () => {
    const branch = b.conv2d(x, {
      name: "conv_offset",
      outChannels: (modulated ? 3 : 2) * offsetGroups * taps,
      kernelSize,
      stride,
      padding,
      dilation,
      bias: true,
      init: { weight: "zeros", bias: "zeros" },
    });
    let offset = branch;
    let mask: ValueRef | undefined;
    if (modulated) {
      const [off, logits] = b.split(branch, [2 * offsetGroups * taps, offsetGroups * taps], 1, {
        name: "split",
      });
      offset = off;
      const s = b.sigmoid(logits, { name: "mask_sigmoid" });
      mask = b.add(s, s, { name: "mask" });
    }
    const attrs: OpAttrs["deformConv2d"] = {
      inChannels: cIn,
      outChannels: cOut,
      kernelSize,
      stride,
      padding,
      dilation,
      groups,
      bias,
      offsetGroups,
      mask: modulated,
    };
    // The generic node() lets the main weight and bias take the scope's own name (see above).
    const scope = b.currentScope;
    return b.node("deformConv2d", mask === undefined ? [x, offset] : [x, offset, mask], attrs, {
      name: "deform_conv",
      params: bias
        ? { weight: { name: `${scope}.weight` }, bias: { name: `${scope}.bias` } }
        : { weight: { name: `${scope}.weight` } },
    })[0];
  });
}
