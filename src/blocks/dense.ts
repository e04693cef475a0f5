import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import { blockScope, channelsOf, meta, positiveInt } from "./common.js";

export interface DenseLayerOptions {
  /** New feature maps this layer adds (k). */
  growthRate: number;
  /** Bottleneck width factor: the 1x1 conv makes bnSize * growthRate channels (default 4). */
  bnSize?: number;
  /** Dropout after the layer (training only; default 0 = no node). */
  dropRate?: number;
  /** Local name of the block's scope (default "denselayer1", ...). */
  name?: string;
}

/**
 * torchvision's _DenseLayer (DenseNet-BC, Huang et al. 2017): the concatenation of all earlier feature maps ->
 * BN - ReLU - 1x1 conv (bnSize * k) - BN - ReLU - 3x3 conv (k). Takes the list of earlier features (or one value)
 * and returns only the k new channels. Nodes: [concat], norm1, relu1, conv1, norm2, relu2, conv2, [dropout].
 * MACs = H*W*Cin*bnSize*k + 9*H*W*bnSize*k*k.
 */
export function denseLayer(
  b: GraphBuilder,
  inputs: ValueRef | readonly ValueRef[],
  o: DenseLayerOptions,
): ValueRef {
  const op = "denseLayer";
  const list = Array.isArray(inputs) ? (inputs as readonly ValueRef[]) : [inputs as ValueRef];
  const k = positiveInt(o.growthRate, op, "growthRate");
  const bnSize = positiveInt(o.bnSize ?? 4, op, "bnSize");
  const drop = o.dropRate ?? 0;
  return blockScope(
    b,
    o.name,
    "denselayer",
    { kind: "denseLayer", meta: meta({ growthRate: k, bnSize }) },
    () => {
      let y = list.length === 1 ? list[0] : b.concat(list, 1, { name: "concat" });
      channelsOf(b, y, op);
      y = b.relu(b.batchNorm2d(y, { name: "norm1" }), { name: "relu1" });
      y = b.conv2d(y, { name: "conv1", outChannels: bnSize * k, kernelSize: 1, bias: false });
      y = b.relu(b.batchNorm2d(y, { name: "norm2" }), { name: "relu2" });
      y = b.conv2d(y, { name: "conv2", outChannels: k, kernelSize: 3, padding: 1, bias: false });
      return drop > 0 ? b.dropout(y, drop, { name: "dropout" }) : y;
    },
  );
}

export interface DenseBlockOptions {
  numLayers: number;
  growthRate: number;
  bnSize?: number;
  dropRate?: number;
  /** Local name of the block's scope (default "denseblock1", ...). */
  name?: string;
}

/**
 * torchvision's _DenseBlock: `numLayers` dense layers ("denselayer1"...), each reading the concatenation of the
 * block input and all earlier layers' outputs; returns that concatenation after the last layer (node "concat"):
 * Cin + numLayers * growthRate channels.
 */
export function denseBlock(b: GraphBuilder, x: ValueRef, o: DenseBlockOptions): ValueRef {
  const op = "denseBlock";
  const n = positiveInt(o.numLayers, op, "numLayers");
  const info = meta({ numLayers: n, growthRate: o.growthRate, bnSize: o.bnSize ?? 4 });
  return blockScope(b, o.name, "denseblock", { kind: "denseBlock", meta: info }, () => {
    const features: ValueRef[] = [x];
    for (let i = 1; i <= n; i++) {
      features.push(
        denseLayer(b, features, {
          name: `denselayer${i}`,
          growthRate: o.growthRate,
          bnSize: o.bnSize,
          dropRate: o.dropRate,
        }),
      );
    }
    return b.concat(features, 1, { name: "concat" });
  });
}

export interface TransitionOptions {
  outChannels: number;
  /** Local name of the block's scope (default "transition1", ...). */
  name?: string;
}

/**
 * torchvision's _Transition between dense blocks: BN - ReLU - 1x1 conv (outChannels, no bias) - 2x2 average pool
 * stride 2. Nodes norm, relu, conv, pool. MACs = H*W*Cin*Cout.
 */
export function transition(b: GraphBuilder, x: ValueRef, o: TransitionOptions): ValueRef {
  const op = "transition";
  channelsOf(b, x, op);
  const cOut = positiveInt(o.outChannels, op, "outChannels");
  return blockScope(
    b,
    o.name,
    "transition",
    { kind: "transition", meta: meta({ outChannels: cOut }) },
    () => {
      let y = b.relu(b.batchNorm2d(x, { name: "norm" }), { name: "relu" });
      y = b.conv2d(y, { name: "conv", outChannels: cOut, kernelSize: 1, bias: false });
      return b.avgPool2d(y, { name: "pool", kernelSize: 2, stride: 2 });
    },
  );
}
