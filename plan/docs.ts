// Renders Pulumi.yaml and the README's config table from config/keys.ts: `npm run docs`
// (plan/write-docs.ts) writes them, test/declarations.spec.ts fails when they are out of date.
import * as YAML from "yaml";
import { KEYS, KEY_NAMES, KeySpec, PROJECT } from "../config/keys";

export const TABLE_START = "<!-- config-table:start (npm run docs) -->";
export const TABLE_END = "<!-- config-table:end -->";

export function renderPulumiYaml(): string {
    const config = Object.fromEntries(
        KEY_NAMES.map((key) => {
            const spec: KeySpec = KEYS[key];
            return [
                key,
                {
                    type: spec.type,
                    ...(spec.type === "array" ? { items: { type: "string" } } : {}),
                    description: spec.description,
                    ...(spec.default !== undefined ? { default: spec.default } : {}),
                    // Only required secrets: the CLI merges a declared default into the stack config as
                    // a plain value, then refuses it as "must be encrypted as it's secret" (pulumi/pulumi
                    // v3.259.0 pkg/workspace/config.go mergeConfig, validateStackConfigValue). The
                    // program refuses a plain value for every secret key itself (config/check-keys.ts).
                    ...(spec.secret && spec.default === undefined ? { secret: true } : {}),
                },
            ];
        }),
    );
    const project = {
        name: PROJECT,
        description: "Rails 8 (SQLite, Solid Queue/Cache/Cable, Litestream, Thruster) on ARM64 Hetzner behind a Cloudflare tunnel, deployed with Kamal",
        // Compiled JavaScript: launch.js rebuilds bin/ only after a source edit, so a preview
        // never pays for ts-node. See README "Speed".
        main: "launch.js",
        runtime: { name: "nodejs", options: { typescript: false } },
        config,
    };
    return `# Generated from config/keys.ts by \`npm run docs\`; edit that file, not this one.\n${YAML.stringify(project, { lineWidth: 0 })}`;
}

const cell = (text: string): string => text.replace(/\|/g, "\\|");

function defaultCell(spec: KeySpec): string {
    if (spec.derived) return `derived: ${spec.derived}`;
    if (spec.required) return "**required**";
    if (spec.default === undefined || spec.default === "") return "unset";
    return `\`${JSON.stringify(spec.default)}\``;
}

export function renderConfigTable(): string {
    const rows = KEY_NAMES.map((key) => {
        const spec: KeySpec = KEYS[key];
        return `| \`${key}\` | ${spec.type}${spec.secret ? " (secret)" : ""} | ${cell(defaultCell(spec))} | ${cell(spec.description)} |`;
    });
    return [TABLE_START, "| key | type | default | description |", "|---|---|---|---|", ...rows, TABLE_END].join("\n");
}

/** README with its config table replaced by the rendered one. */
export function withConfigTable(readme: string): string {
    const start = readme.indexOf(TABLE_START);
    const end = readme.indexOf(TABLE_END);
    if (start < 0 || end < start) throw new Error(`README.md lacks the ${TABLE_START} ... ${TABLE_END} markers`);
    return readme.slice(0, start) + renderConfigTable() + readme.slice(end + TABLE_END.length);
}
