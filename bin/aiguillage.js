#!/usr/bin/env node
// Entry point of the `aiguillage` command: runs the compiled CLI.
import '../dist/src/cli.js';
