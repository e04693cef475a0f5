import { type Conv2dGeometry, type Conv2dOptions, conv2dGeometry } from "../src/tensor/conv-geometry.js";

/** One benchmarked convolution: NCHW input [batch, cIn, h, w], weight [cOut, cIn/groups, k, k]. */
export interface BenchShape {
  name: string;
  /** What the shape stands for, for the report. */
  label: string;
  cIn: number;
  h: number;
  w: number;
  cOut: number;
  k: number;
  stride: number;
  padding: number;
  dilation: number;
  groups: number;
  /** Set for deformable convolution v2 (torchvision's deform_conv2d with a mask; ONNX DeformConv). */
  deformable?: { offsetGroups: number };
}

/** The shapes of issue 4 (ResNet/MobileNet-like layers). */
export const SHAPES: readonly BenchShape[] = [
  {
    name: "conv3x3",
    label: "3x3, 64->64, 56x56",
    cIn: 64,
    h: 56,
    w: 56,
    cOut: 64,
    k: 3,
    stride: 1,
    padding: 1,
    dilation: 1,
    groups: 1,
  },
  {
    name: "conv5x5",
    label: "5x5, 64->64, 56x56",
    cIn: 64,
    h: 56,
    w: 56,
    cOut: 64,
    k: 5,
    stride: 1,
    padding: 2,
    dilation: 1,
    groups: 1,
  },
  {
    name: "dilated3x3",
    label: "3x3 dilation 2, 64->64, 56x56",
    cIn: 64,
    h: 56,
    w: 56,
    cOut: 64,
    k: 3,
    stride: 1,
    padding: 2,
    dilation: 2,
    groups: 1,
  },
  {
    name: "pointwise",
    label: "1x1, 256->64, 56x56",
    cIn: 256,
    h: 56,
    w: 56,
    cOut: 64,
    k: 1,
    stride: 1,
    padding: 0,
    dilation: 1,
    groups: 1,
  },
  {
    name: "grouped3x3",
    label: "3x3, 128->128, 28x28, 8 groups",
    cIn: 128,
    h: 28,
    w: 28,
    cOut: 128,
    k: 3,
    stride: 1,
    padding: 1,
    dilation: 1,
    groups: 8,
  },
  {
    name: "depthwise3x3",
    label: "3x3 depthwise, 256 ch, 28x28",
    cIn: 256,
    h: 28,
    w: 28,
    cOut: 256,
    k: 3,
    stride: 1,
    padding: 1,
    dilation: 1,
    groups: 256,
  },
  {
    name: "stem7x7",
    label: "7x7 stride 2, 3->64, 224x224",
    cIn: 3,
    h: 224,
    w: 224,
    cOut: 64,
    k: 7,
    stride: 2,
    padding: 3,
    dilation: 1,
    groups: 1,
  },
  {
    name: "deformable3x3",
    label: "deformable v2 (modulated) 3x3, 64->64, 56x56, 1 offset group, offsets ~ N(0, 1) px",
    cIn: 64,
    h: 56,
    w: 56,
    cOut: 64,
    k: 3,
    stride: 1,
    padding: 1,
    dilation: 1,
    groups: 1,
    deformable: { offsetGroups: 1 },
  },
];

/** The subset `--quick` runs. */
export const QUICK_SHAPES: readonly string[] = ["conv3x3", "pointwise", "grouped3x3", "depthwise3x3"];

export function geometryOf(s: BenchShape, batch: number): Conv2dGeometry {
  const options: Conv2dOptions = {
    stride: s.stride,
    padding: s.padding,
    dilation: s.dilation,
    groups: s.groups,
  };
  return conv2dGeometry([batch, s.cIn, s.h, s.w], [s.cOut, s.cIn / s.groups, s.k, s.k], options);
}

/** Multiply-adds of the direct convolution (the count every engine is credited with, Winograd included). */
export function macsOf(g: Conv2dGeometry): number {
  return g.n * g.cOut * g.hOut * g.wOut * (g.cIn / g.groups) * g.kH * g.kW;
}

export type Direction = "forward" | "backward";

/** FLOPs = 2 x MACs; backward (input and weight gradients) is two convolutions' worth. */
export function flopsOf(g: Conv2dGeometry, direction: Direction): number {
  return 2 * macsOf(g) * (direction === "backward" ? 2 : 1);
}
