#!/usr/bin/env node
// Entry point of the `modelport` command: runs the compiled CLI.
import '../dist/src/cli/main.js';
