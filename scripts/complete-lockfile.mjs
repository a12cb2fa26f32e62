#!/usr/bin/env node
// The registry this project is built against serves msgpackr-extract's native
// packages for Linux only, so `npm install` leaves the other platforms out of
// package-lock.json and `npm ci` then refuses the lock as out of sync. This
// adds the missing optional entries (never fetched on Linux). Run it after
// any `npm install` that rewrites the lock.
import fs from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const prefix = 'node_modules/@msgpackr-extract/msgpackr-extract-';
const model = lock.packages[`${prefix}linux-x64`];
if (!model) process.exit(0);
const platforms = { 'darwin-arm64': ['darwin', 'arm64'], 'darwin-x64': ['darwin', 'x64'], 'linux-arm': ['linux', 'arm'], 'linux-arm64': ['linux', 'arm64'], 'win32-x64': ['win32', 'x64'] };
let added = 0;
for (const [name, [os, cpu]] of Object.entries(platforms)) {
  if (lock.packages[prefix + name]) continue;
  // eslint-disable-next-line no-unused-vars -- dropped from the copy on purpose
  const { integrity: _integrity, ...entry } = model;
  lock.packages[prefix + name] = { ...entry, os: [os], cpu: [cpu] };
  added++;
}
const sorted = {};
for (const key of Object.keys(lock.packages).sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1))) sorted[key] = lock.packages[key];
lock.packages = sorted;
fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: ${added} optional msgpackr-extract entries added`);
