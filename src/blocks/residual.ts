import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { type BatchNormOptions, blockScope, channelsOf, meta, positiveInt, Sequential } from "./common.js";
import { convBnAct } from "./conv-bn-act.js";
import { deformableConv } from "./deformable.js";
import { type SqueezeExciteOptions, squeezeExcite } from "./squeeze-excite.js";

/** Options common to both residual blocks. */
interface ResidualCommon {
  /** Stride of the block (on conv1 of a basic block, on the 3x3 conv2 of a bottleneck, as torchvision). */
  stride?: number;
  /** Dilation of the 3x3 conv (default 1). */
  dilation?: number;
  /**
   * Projection shortcut ("downsample": 1x1 conv with the block's stride + BN, torchvision's names downsample.0/1).
   * Default: exactly when the shapes differ (stride != 1 or channels change). An identity shortcut where shapes
   * differ is refused.
   */
  downsample?: boolean;
  /** Options of every batch norm. */
  bn?: BatchNormOptions;
  /** Local name of the block's scope (default "block1", ...); torchvision's layers use "0", "1", ... */
  name?: string;
}

export interface BasicBlockOptions extends ResidualCommon {
  /** Output channels. */
  planes: number;
}

export interface BottleneckOptions extends ResidualCommon {
  /** The bottleneck's "planes": output channels are planes * expansion. */
  planes: number;
  /** Groups of the 3x3 conv: ResNeXt's cardinality (default 1). */
  groups?: number;
  /** Width per group (torchvision's base_width, default 64): width = floor(planes * widthPerGroup / 64) * groups. */
  widthPerGroup?: number;
  /** Default 4. */
  expansion?: number;
  /** Squeeze-and-excitation after bn3, before the addition (SE-ResNet, Hu et al.), in scope "se_module". */
  se?: boolean | SqueezeExciteOptions;
  /**
   * Make the 3x3 conv deformable (Deformable ConvNets): true = DCNv2 (modulated), or the options. Its scope is
   * "conv2", so the main weight keeps torchvision's name `<block>.conv2.weight` and the offset conv is added as
   * `<block>.conv2.conv_offset.*` (zero-initialised: a fresh block equals the plain bottleneck).
   */
  deformable?: boolean | { modulated?: boolean; offsetGroups?: number };
}

function shortcut(
  b: GraphBuilder,
  x: ValueRef,
  outChannels: number,
  stride: number,
  want: boolean | undefined,
  bn: BatchNormOptions | undefined,
  op: string,
): ValueRef {
  const cIn = channelsOf(b, x, op);
  const needed = stride !== 1 || cIn !== outChannels;
  if (want === false && needed) {
    throw new ArgumentError(
      describe(
        op,
        "downsample",
        `true: the shapes differ (stride ${stride}, ${cIn} -> ${outChannels} channels)`,
        false,
      ),
    );
  }
  if (!(want ?? needed)) return x;
  return convBnAct(b, x, {
    name: "downsample",
    names: new Sequential(),
    outChannels,
    kernelSize: 1,
    stride,
    padding: 0,
    bn: bn ?? true,
    activation: "none",
  });
}

/**
 * torchvision's BasicBlock (ResNet-18/34, He et al. 2016): 3x3 conv (stride) - BN - ReLU - 3x3 conv - BN, plus the
 * shortcut, then ReLU. Nodes conv1, bn1, relu1, conv2, bn2, [downsample.0, downsample.1], add, relu.
 */
export function basicBlock(b: GraphBuilder, x: ValueRef, o: BasicBlockOptions): ValueRef {
  const op = "basicBlock";
  const planes = positiveInt(o.planes, op, "planes");
  const stride = positiveInt(o.stride ?? 1, op, "stride");
  const dilation = positiveInt(o.dilation ?? 1, op, "dilation");
  const bn = o.bn ?? true;
  return blockScope(
    b,
    o.name,
    "block",
    { kind: "basicBlock", meta: meta({ planes, stride, dilation }) },
    () => {
      let y = convBnAct(b, x, {
        inline: true,
        names: { conv: "conv1", bn: "bn1", act: "relu1" },
        outChannels: planes,
        kernelSize: 3,
        stride,
        dilation,
        bn,
      });
      y = convBnAct(b, y, {
        inline: true,
        names: { conv: "conv2", bn: "bn2" },
        outChannels: planes,
        kernelSize: 3,
        dilation,
        bn,
        activation: "none",
      });
      const identity = shortcut(b, x, planes, stride, o.downsample, o.bn, op);
      return b.relu(b.add(y, identity, { name: "add" }), { name: "relu" });
    },
  );
}

/**
 * torchvision's Bottleneck (ResNet v1.5: the stride on the 3x3 conv): 1x1 (width) - BN - ReLU - 3x3 (width,
 * stride, groups) - BN - ReLU - 1x1 (planes * expansion) - BN, [SE], plus the shortcut, then ReLU.
 * Nodes conv1, bn1, relu1, conv2, bn2, relu2, conv3, bn3, [se_module], [downsample.0/1], add, relu.
 */
export function bottleneck(b: GraphBuilder, x: ValueRef, o: BottleneckOptions): ValueRef {
  const op = "bottleneck";
  const planes = positiveInt(o.planes, op, "planes");
  const stride = positiveInt(o.stride ?? 1, op, "stride");
  const dilation = positiveInt(o.dilation ?? 1, op, "dilation");
  const groups = positiveInt(o.groups ?? 1, op, "groups");
  const expansion = positiveInt(o.expansion ?? 4, op, "expansion");
  const width = Math.floor((planes * positiveInt(o.widthPerGroup ?? 64, op, "widthPerGroup")) / 64) * groups;
  const outChannels = planes * expansion;
  const bn = o.bn ?? true;
  const deform = o.deformable === true ? { modulated: true } : o.deformable || undefined;
  const info = meta({
    planes,
    stride,
    groups,
    width,
    expansion,
    dilation,
    se: o.se ? true : undefined,
    deformable: deform ? (deform.modulated === false ? 1 : 2) : undefined,
  });
  return blockScope(b, o.name, "block", { kind: "bottleneck", meta: info }, () => {
    let y = convBnAct(b, x, {
      inline: true,
      names: { conv: "conv1", bn: "bn1", act: "relu1" },
      outChannels: width,
      kernelSize: 1,
      bn,
    });
    if (deform) {
      y = deformableConv(b, y, {
        name: "conv2",
        outChannels: width,
        kernelSize: 3,
        stride,
        dilation,
        groups,
        bias: false,
        modulated: deform.modulated ?? true,
        offsetGroups: deform.offsetGroups,
      });
      y = b.relu(b.batchNorm2d(y, { name: "bn2", eps: o.bn?.eps, momentum: o.bn?.momentum }), {
        name: "relu2",
      });
    } else {
      y = convBnAct(b, y, {
        inline: true,
        names: { conv: "conv2", bn: "bn2", act: "relu2" },
        outChannels: width,
        kernelSize: 3,
        stride,
        dilation,
        groups,
        bn,
      });
    }
    y = convBnAct(b, y, {
      inline: true,
      names: { conv: "conv3", bn: "bn3" },
      outChannels,
      kernelSize: 1,
      bn,
      activation: "none",
    });
    if (o.se) y = squeezeExcite(b, y, { name: "se_module", ...(o.se === true ? {} : o.se) });
    const identity = shortcut(b, x, outChannels, stride, o.downsample, o.bn, op);
    return b.relu(b.add(y, identity, { name: "add" }), { name: "relu" });
  });
}
