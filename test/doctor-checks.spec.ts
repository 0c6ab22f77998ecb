// The doctor's checks added for real apps (issue 17): Active Storage's service per environment, the
// checksum settings by the locked aws-sdk-s3, what listens on port 80, the image's user.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { DEFAULT_REPLICATION } from "../config/parse-storage";
import { checkApp, formatProblem } from "../deploy/doctor";
import { renderLitestream } from "../renderers/litestream";

const ROOT = path.join(__dirname, "fixtures", "apps", "healthy");
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), "utf8");
const HEALTHY: Record<string, string> = Object.fromEntries(
    ["Dockerfile", "bin/docker-entrypoint", "Gemfile.lock", "config/database.yml", "config/storage.yml", "config/environments/production.rb", "config/environments/staging.rb"].map((f) => [f, read(f)]),
);

function edit(file: string, from: string, to: string): Record<string, string> {
    assert.ok(HEALTHY[file].includes(from), `${file} has no ${JSON.stringify(from)}`);
    return { [file]: HEALTHY[file].replace(from, to) };
}

function check(changes: Record<string, string>, railsEnv = "staging"): string[] {
    const files = { ...HEALTHY, ...changes };
    const litestreamYaml = renderLitestream({ railsEnv, stack: railsEnv, bucket: "b", endpoint: "https://0123.r2.cloudflarestorage.com", databases: DEFAULT_REPLICATION });
    return checkApp({ read: (f) => files[f] }, { railsEnv, litestreamYaml, activeStorageService: "r2" }).map(formatProblem);
}

const OLD_SDK = edit("Gemfile.lock", "    aws-sdk-s3 (1.183.0)", "    aws-sdk-s3 (1.117.0)");

describe("doctor: checks for real apps", () => {
    for (const railsEnv of ["staging", "production"]) {
        it(`refuses :local, Rails' default, for ${railsEnv} (staging through require_relative "production")`, () => {
            assert.deepStrictEqual(check(edit("config/environments/production.rb", "service = :r2", "service = :local"), railsEnv), [
                `config/environments/production.rb:9: config.active_storage.service = :local (RAILS_ENV=${railsEnv}) stores attachments as files under storage/ on the host's volume, which Litestream does not back up: set config.active_storage.service = :r2`,
            ]);
        });
    }

    it("follows an override in staging.rb after require_relative", () => {
        assert.deepStrictEqual(check({ "config/environments/staging.rb": `${HEALTHY["config/environments/staging.rb"]}Rails.application.configure do\n  config.active_storage.service = :amazon\nend\n` }), [
            "config/environments/staging.rb:4: config.active_storage.service = :amazon (RAILS_ENV=staging) is not the service the stack configures (config/storage.yml r2:, the stack's R2 bucket): set config.active_storage.service = :r2",
        ]);
    });

    it("refuses the checksum settings where the locked aws-sdk-s3 predates them (they crash boot)", () => {
        const crash = (setting: string, line: number) =>
            `config/storage.yml:${line}: r2: sets ${setting}, which the locked aws-sdk-s3 1.117.0 does not know (it arrived in 1.178.0): Rails would stop at boot with ArgumentError: invalid configuration option \`:${setting}'; remove it, or run bundle update aws-sdk-s3 to 1.178.0 or later and keep it`;
        assert.deepStrictEqual(check(OLD_SDK), [crash("request_checksum_calculation", 18), crash("response_checksum_validation", 19)]);
    });

    it("accepts an older aws-sdk-s3 without them, and requires them from 1.178.0", () => {
        const without = edit("config/storage.yml", "  request_checksum_calculation: when_required\n  response_checksum_validation: when_required\n", "");
        assert.deepStrictEqual(check({ ...OLD_SDK, ...without }), []);
        assert.deepStrictEqual(check(without), [
            "config/storage.yml:10: r2: lacks request_checksum_calculation: when_required; aws-sdk-s3 1.178.0 and later (Gemfile.lock: 1.183.0) send checksums R2 rejects, so uploads would fail: add it as in the r2: entry the stack renders (npm run plan writes it to out/<stack>/storage/active-storage.yml)",
            "config/storage.yml:10: r2: lacks response_checksum_validation: when_required; aws-sdk-s3 1.178.0 and later (Gemfile.lock: 1.183.0) send checksums R2 rejects, so uploads would fail: add it as in the r2: entry the stack renders (npm run plan writes it to out/<stack>/storage/active-storage.yml)",
        ]);
    });

    it("requires aws-sdk-s3 in Gemfile.lock for the S3 service", () => {
        assert.deepStrictEqual(check(edit("Gemfile.lock", "    aws-sdk-s3 (1.183.0)\n", "")), [
            'Gemfile.lock: locks no aws-sdk-s3, which Active Storage\'s S3 service (config/storage.yml r2:) loads at boot: add gem "aws-sdk-s3", require: false to the Gemfile and run bundle install',
        ]);
    });

    it("judges the port by what listens: Thruster on HTTP_PORT, Puma on PORT", () => {
        assert.deepStrictEqual(check(edit("Dockerfile", '    BUNDLE_WITHOUT="development"', '    BUNDLE_WITHOUT="development" \\\n    HTTP_PORT="8080"')), [
            'Dockerfile:63: CMD ["./bin/thrust", "./bin/rails", "server"] runs Thruster on port 8080 (HTTP_PORT), but kamal-proxy sends requests to port 80: remove HTTP_PORT from ENV',
        ]);
        const puma80 = { ...edit("Dockerfile", '    BUNDLE_WITHOUT="development"', '    BUNDLE_WITHOUT="development" \\\n    PORT="80"') };
        assert.deepStrictEqual(check({ Dockerfile: puma80.Dockerfile.replace('CMD ["./bin/thrust", "./bin/rails", "server"]', 'CMD ["./bin/rails", "server"]') }), []);
    });

    it("refuses an image that runs as root", () => {
        assert.deepStrictEqual(check(edit("Dockerfile", "USER 1000:1000\n", "")), [
            "Dockerfile: no USER (runs as root): Litestream and the pre-deploy backup run as uid 1000, so they could not write the databases the app creates: use USER 1000:1000 as Rails 8's Dockerfile does",
        ]);
    });
});
