import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { blockScope, channelsOf, meta, positiveInt, Sequential } from "./common.js";
import { convBnAct } from "./conv-bn-act.js";

export interface ShuffleV1UnitOptions {
  outChannels: number;
  /** Groups of the 1x1 convs and of the shuffle (default 3). */
  groups?: number;
  /** 1 (residual add) or 2 (3x3 avg-pool shortcut, concat). Default 1. */
  stride?: 1 | 2;
  /**
   * Whether the first 1x1 conv is grouped (default true). The paper's first unit of stage 2 uses a plain 1x1
   * because its input (24 channels) is too narrow to split.
   */
  firstGroupConv?: boolean;
  /** Bottleneck channels = floor(outChannels * ratio) (default 1/4, as the paper). */
  bottleneckRatio?: number;
  /** Local name of the block's scope (default "shuffle_v1_1", ...). */
  name?: string;
}

/**
 * ShuffleNet v1 unit (Zhang et al. 2017, Fig. 2 b/c): grouped 1x1 conv + BN + ReLU, channel shuffle, 3x3 depthwise
 * conv (stride s) + BN, grouped 1x1 conv + BN; at stride 1 added to the input, at stride 2 concatenated with a
 * 3x3/2 average pool of the input (the branch then makes outChannels - inChannels channels); ReLU at the end.
 * Nodes (flat, ResNet-like): conv1, bn1, relu1, shuffle, conv2, bn2, conv3, bn3, shortcut, add | concat, relu.
 */
export function shuffleV1Unit(b: GraphBuilder, x: ValueRef, o: ShuffleV1UnitOptions): ValueRef {
  const op = "shuffleV1Unit";
  const cIn = channelsOf(b, x, op);
  const groups = positiveInt(o.groups ?? 3, op, "groups");
  const stride = o.stride ?? 1;
  if (stride !== 1 && stride !== 2) throw new ArgumentError(describe(op, "stride", "1 or 2", stride));
  const cOut = positiveInt(o.outChannels, op, "outChannels");
  const mid = Math.floor(cOut * (o.bottleneckRatio ?? 0.25));
  const branchOut = stride === 2 ? cOut - cIn : cOut;
  if (stride === 1 && cIn !== cOut) {
    throw new ArgumentError(describe(op, "outChannels", `the input channels (${cIn}) at stride 1`, cOut));
  }
  if (branchOut < 1 || branchOut % groups !== 0) {
    throw new ArgumentError(
      describe(
        op,
        "outChannels",
        `inChannels (${cIn}) + a positive multiple of groups (${groups}) at stride 2`,
        cOut,
      ),
    );
  }
  if (mid < 1 || mid % groups !== 0) {
    throw new ArgumentError(
      describe(op, "bottleneckRatio", `bottleneck channels divisible by groups (${groups})`, mid),
    );
  }
  const firstGroups = (o.firstGroupConv ?? true) ? groups : 1;
  const info = meta({ groups, stride, bottleneckChannels: mid, firstGroupConv: firstGroups > 1 });
  return blockScope(b, o.name, "shuffle_v1_", { kind: "shuffleV1Unit", meta: info }, () => {
    let y = convBnAct(b, x, {
      inline: true,
      names: { conv: "conv1", bn: "bn1", act: "relu1" },
      outChannels: mid,
      kernelSize: 1,
      groups: firstGroups,
    });
    if (groups > 1) y = b.channelShuffle(y, groups, { name: "shuffle" });
    y = convBnAct(b, y, {
      inline: true,
      names: { conv: "conv2", bn: "bn2" },
      outChannels: mid,
      kernelSize: 3,
      stride,
      groups: mid,
      activation: "none",
    });
    y = convBnAct(b, y, {
      inline: true,
      names: { conv: "conv3", bn: "bn3" },
      outChannels: branchOut,
      kernelSize: 1,
      groups,
      activation: "none",
    });
    const joined =
      stride === 2
        ? b.concat([b.avgPool2d(x, { name: "shortcut", kernelSize: 3, stride: 2, padding: 1 }), y], 1, {
            name: "concat",
          })
        : b.add(x, y, { name: "add" });
    return b.relu(joined, { name: "relu" });
  });
}

export interface ShuffleV2UnitOptions {
  outChannels: number;
  /** 1 (split, one branch) or 2 (two branches on the whole input). Default 1. */
  stride?: 1 | 2;
  /** Local name of the block's scope (default "shuffle_v2_1", ...). */
  name?: string;
}

/**
 * ShuffleNet v2 unit, exactly torchvision's shufflenetv2.InvertedResidual (Ma et al. 2018, Fig. 3 c/d):
 * - stride 1: split the channels in halves; the second half goes through 1x1-BN-ReLU, 3x3 depthwise-BN,
 *   1x1-BN-ReLU ("branch2"), concatenated after the untouched first half;
 * - stride 2: "branch1" (3x3 depthwise/2-BN, 1x1-BN-ReLU) and "branch2" (as above, depthwise with stride 2) both
 *   read the whole input and are concatenated;
 * then a channel shuffle with 2 groups. Parameter names are torchvision's: branch1.0..4, branch2.0..7.
 */
export function shuffleV2Unit(b: GraphBuilder, x: ValueRef, o: ShuffleV2UnitOptions): ValueRef {
  const op = "shuffleV2Unit";
  const cIn = channelsOf(b, x, op);
  const stride = o.stride ?? 1;
  if (stride !== 1 && stride !== 2) throw new ArgumentError(describe(op, "stride", "1 or 2", stride));
  const cOut = positiveInt(o.outChannels, op, "outChannels");
  if (cOut % 2 !== 0) throw new ArgumentError(describe(op, "outChannels", "an even number", cOut));
  const half = cOut / 2;
  if (stride === 1 && cIn !== cOut) {
    throw new ArgumentError(describe(op, "outChannels", `the input channels (${cIn}) at stride 1`, cOut));
  }
  const branch2 = (input: ValueRef): ValueRef =>
    b.scope("branch2", () => {
      const seq = new Sequential();
      let y = convBnAct(b, input, { inline: true, names: seq, outChannels: half, kernelSize: 1 });
      y = convBnAct(b, y, {
        inline: true,
        names: seq,
        outChannels: half,
        kernelSize: 3,
        stride,
        groups: half,
        activation: "none",
      });
      return convBnAct(b, y, { inline: true, names: seq, outChannels: half, kernelSize: 1 });
    });
  const info = meta({ stride, branchChannels: half });
  return blockScope(b, o.name, "shuffle_v2_", { kind: "shuffleV2Unit", meta: info }, () => {
    let joined: ValueRef;
    if (stride === 1) {
      const [x1, x2] = b.split(x, [cIn - cIn / 2, cIn / 2], 1, { name: "split" });
      joined = b.concat([x1, branch2(x2)], 1, { name: "concat" });
    } else {
      const left = b.scope("branch1", () => {
        const seq = new Sequential();
        const y = convBnAct(b, x, {
          inline: true,
          names: seq,
          outChannels: cIn,
          kernelSize: 3,
          stride,
          groups: cIn,
          activation: "none",
        });
        return convBnAct(b, y, { inline: true, names: seq, outChannels: half, kernelSize: 1 });
      });
      joined = b.concat([left, branch2(x)], 1, { name: "concat" });
    }
    return b.channelShuffle(joined, 2, { name: "shuffle" });
  });
}
