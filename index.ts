// Entry point for `pulumi up`: read the stack config once, build the graph, export its outputs.
import { loadConfig } from "./config/load";
import { createStack } from "./program";

export = createStack(loadConfig()).outputs;
