import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { formatAnalysis } from "../../src/analyze/format.js";
import { collapseByScope } from "../../src/analyze/scopes.js";
import { GraphBuilder } from "../../src/graph/builder.js";

// Scope paths and node names are the model's: "__proto__" or "toString" must be ordinary keys of the
// analysis' scope kinds, never the prototype or Object.prototype's members.

function net() {
  const b = new GraphBuilder("scoped", { seed: 1 });
  const x = b.input("x", [2, 6, 6]);
  const y = b.scope("__proto__", () => b.conv2d(x, { outChannels: 3, kernelSize: 3, name: "conv" }), {
    kind: "block",
  });
  const z = b.scope("constructor", () => b.relu(y, { name: "act" }));
  b.output(b.relu(z, { name: "toString" }));
  return b.build();
}

describe("analyze: scope and node names that JavaScript objects treat specially", () => {
  it("keeps a scope named __proto__ among the scope kinds", () => {
    const analysis = analyze(net().graph);
    expect(Object.entries(analysis.scopes)).toEqual([["__proto__", "block"]]);
  });

  it("collapsed rows take their kind from the graph's scopes or the node's op, never from Object.prototype", () => {
    const analysis = analyze(net().graph);
    const groups = collapseByScope(analysis, 1);
    expect(groups.map((g) => [g.name, g.kind])).toEqual([
      ["__proto__", "block"],
      ["constructor", ""], // a scope without a description
      ["toString", "relu"],
    ]);
    expect(formatAnalysis(analysis, { depth: 1 })).not.toContain("function");
  });
});
