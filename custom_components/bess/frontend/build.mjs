// Bundles src/bess-card.js with Lit and uPlot into one minified ES module.
// Usage: node build.mjs [OUTPUT]   (default: bess-card.js beside this file)
// The same sources and package-lock.json give the same bytes: no timestamps, no paths.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const output = resolve(process.argv[2] ?? resolve(here, "bess-card.js"));
const { version } = JSON.parse(readFileSync(resolve(here, "package.json"), "utf8"));
const banner = [
  `/* bess-card ${version}, built by scripts/build-card from src/.`,
  "Includes Lit (BSD-3-Clause) and uPlot (MIT). */",
].join(" ");

await build({
  absWorkingDir: here,
  entryPoints: ["src/bess-card.js"],
  outfile: output,
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2021",
  loader: { ".css": "text" },
  legalComments: "eof",
  charset: "utf8",
  banner: { js: banner },
  logLevel: "warning",
});

const bytes = readFileSync(output);
const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
console.log(
  `bess-card.js: ${kb(bytes.length)} raw, ${kb(gzipSync(bytes, { level: 9 }).length)} gzip`,
);
