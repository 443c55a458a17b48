// Loaded before jco (`node --import`): jco 1.35.0 reads the WIT folder through
// @bytecodealliance/preview2-shim 0.26, which gives a guest no directory unless told to, so
// `jco componentize --wit wit` would find no file ("failed to get path metadata"). Each copy
// of the shim npm installed is given the file system root.
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";

const copies = [
  "node_modules/@bytecodealliance/preview2-shim",
  "node_modules/@bytecodealliance/jco/node_modules/@bytecodealliance/preview2-shim",
  "node_modules/@bytecodealliance/jco-transpile/node_modules/@bytecodealliance/preview2-shim",
];
for (const copy of copies) {
  const filesystem = `${copy}/dist/nodejs/filesystem.js`;
  if (existsSync(filesystem)) {
    const shim = await import(pathToFileURL(filesystem).href);
    if (typeof shim._setPreopens === "function") {
      shim._setPreopens({ "/": "/" });
    }
  }
}
