// Validates element templates with the validator Camunda Modeler uses.
// Usage: node validate.cjs <node_modules dir> <template.json>...
// Prints one JSON line per template: {file, valid, errors, warnings}; exits 1 on any error.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const modules = path.resolve(process.argv[2]);
const { validateZeebe } = require(path.join(modules, "@bpmn-io/element-templates-validator"));

let failed = false;
for (const file of process.argv.slice(3)) {
  const text = fs.readFileSync(file, "utf-8");
  const result = validateZeebe(text);
  const errors = (result.errors || []).map((e) => `${e.dataPath || e.instancePath || ""}: ${e.message}`);
  const warnings = (result.warnings || []).map((w) => `${w.dataPath || ""}: ${w.message}`);
  if (!result.valid || errors.length) failed = true;
  console.log(JSON.stringify({ file, valid: result.valid, errors, warnings }));
}
process.exit(failed ? 1 : 0);
