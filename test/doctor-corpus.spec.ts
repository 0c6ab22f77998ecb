// The doctor on real-world Dockerfiles and entrypoints: Rails 7.1, 7.2, 8.0 and 8.1 generator output
// (rendered from rails/rails' templates), Alpine variants and the seeds' own, each in the healthy app
// in place of its Dockerfile and bin/docker-entrypoint, with the verdict it must get for staging
// (test/fixtures/corpus/<case>/verdict.txt, reviewed like code; UPDATE_GOLDEN=1 rewrites them).
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { DEFAULT_REPLICATION } from "../config/parse-storage";
import { checkApp, formatProblem } from "../deploy/doctor";
import { renderLitestream } from "../renderers/litestream";

const FIXTURES = path.join(__dirname, "fixtures");
const CORPUS = path.join(FIXTURES, "corpus");
const OVERRIDDEN = ["Dockerfile", "bin/docker-entrypoint"];

function files(root: string): Record<string, string> {
    const found: Record<string, string> = {};
    for (const entry of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
        if (entry.isFile()) found[path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join("/")] = fs.readFileSync(path.join(entry.parentPath, entry.name), "utf8");
    }
    return found;
}

describe("doctor: corpus of real-world Dockerfiles and entrypoints", () => {
    const healthy = files(path.join(FIXTURES, "apps", "healthy"));
    const litestreamYaml = renderLitestream({ railsEnv: "staging", stack: "staging", bucket: "shop-backups", endpoint: "https://0123.r2.cloudflarestorage.com", databases: DEFAULT_REPLICATION });
    const cases = fs.readdirSync(CORPUS, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);

    it("has the generator output of Rails 7.1, 7.2, 8.0 and 8.1, Alpine and the seeds", () => {
        for (const name of ["rails-7.1", "rails-7.2", "rails-8.0", "rails-8.1", "alpine", "seed-001", "seed-002", "seed-003"]) assert.ok(cases.includes(name), name);
    });

    for (const name of cases) {
        it(name, () => {
            const own = files(path.join(CORPUS, name));
            const app = { ...healthy, ...Object.fromEntries(OVERRIDDEN.map((f) => [f, own[f]])) };
            const verdict = checkApp({ read: (file) => app[file] }, { railsEnv: "staging", litestreamYaml, activeStorageService: "r2" }).map(formatProblem);
            const file = path.join(CORPUS, name, "verdict.txt");
            if (process.env.UPDATE_GOLDEN === "1") fs.writeFileSync(file, verdict.map((line) => `${line}\n`).join(""));
            assert.deepStrictEqual(verdict, fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== ""));
        });
    }
});
