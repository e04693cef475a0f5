import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { randn } from "../../src/autograd/factories.js";
import { noGrad } from "../../src/autograd/gradmode.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import { inferShapes } from "../../src/graph/validate.js";
import { ConvkitError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";

/**
 * The graph's shape rules must agree with the ops: for random valid layer stacks, every value's inferred shape
 * equals the shape the executor actually produces (at a batch size other than the builder's reference 1).
 */
describe("inferShapes agrees with the executed ops", () => {
  it("property: random conv / pool / shape-op stacks", () => {
    const layer = fc.oneof(
      fc.record({
        kind: fc.constant("conv" as const),
        out: fc.integer({ min: 1, max: 4 }),
        k: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
        stride: fc.integer({ min: 1, max: 2 }),
        pad: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)),
        dilation: fc.integer({ min: 1, max: 2 }),
        grouped: fc.boolean(),
      }),
      fc.record({
        kind: fc.constantFrom("max" as const, "avg" as const),
        k: fc.integer({ min: 1, max: 3 }),
        stride: fc.integer({ min: 1, max: 3 }),
        pad: fc.nat(1),
        ceil: fc.boolean(),
      }),
      fc.record({ kind: fc.constant("adaptive" as const), size: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant("shuffle" as const) }),
    );
    let built = 0;
    fc.assert(
      fc.property(
        fc.array(layer, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 2, max: 3 }),
        (layers, batch) => {
          const b = new GraphBuilder("random");
          let x = b.input("x", [2, 7, 6]);
          try {
            for (const l of layers) {
              if (l.kind === "conv") {
                const groups = l.grouped && l.out % 2 === 0 ? 2 : 1;
                x = b.conv2d(x, {
                  outChannels: l.out,
                  kernelSize: l.k,
                  stride: l.stride,
                  padding: l.pad,
                  dilation: l.dilation,
                  groups,
                });
              } else if (l.kind === "max") {
                x = b.maxPool2d(x, { kernelSize: l.k, stride: l.stride, padding: l.pad, ceilMode: l.ceil });
              } else if (l.kind === "avg") {
                x = b.avgPool2d(x, { kernelSize: l.k, stride: l.stride, padding: l.pad, ceilMode: l.ceil });
              } else if (l.kind === "adaptive") {
                x = b.adaptiveAvgPool2d(x, l.size);
              } else if (b.channels(x) % 2 === 0) {
                x = b.channelShuffle(x, 2);
              }
            }
          } catch (e) {
            // An invalid stack (kernel larger than the input, padding over half the kernel) is refused at
            // build time with a convkit error; that is the other half of the contract.
            expect(e).toBeInstanceOf(ConvkitError);
            return;
          }
          b.output(b.linear(b.flatten(x), { outFeatures: 2 }));
          const { graph, weights } = b.build();
          const shapes = inferShapes(graph, { batch });
          const values = noGrad(() =>
            new GraphModel(graph, weights).runAll(randn([batch, 2, 7, 6], { rng: new Rng(1) })),
          );
          for (const [name, t] of values) expect(t.shape, name).toEqual(shapes.get(name));
          expect(values.size).toBe(shapes.size);
          built++;
        },
      ),
      { numRuns: 80 },
    );
    // Most random stacks are valid: the property is not vacuous.
    expect(built).toBeGreaterThan(40);
  });
});
