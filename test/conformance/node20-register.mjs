// `node --import ./node20-register.mjs …/conformance/dist/index.js …`: on Node 20, where fs.globSync
// is missing and the conformance CLI cannot even load, route its `fs` import through our shim.
import fs from 'node:fs';
import { register } from 'node:module';

if (typeof fs.globSync !== 'function') register('./node20-hooks.mjs', import.meta.url);
