// config/storage.yml's R2 service and the aws-sdk-s3 that Gemfile.lock installs for it.
import * as YAML from "yaml";
import { asMap, lineOf, loadYaml, pairsOf, sourceOf } from "./erb-yaml";
import { AppFiles, FILES } from "./files";
import { atLeast, lockedGems } from "./gemfile-lock";
import { Report } from "./report";

/** The two settings Cloudflare documents for aws-sdk-s3 against R2. */
const R2_CHECKSUM_SETTINGS = ["request_checksum_calculation", "response_checksum_validation"] as const;
/**
 * aws-sdk-s3 1.178.0 (2025-01-15, aws-sdk-ruby gems/aws-sdk-s3/CHANGELOG.md: "new default integrity
 * protections for S3 requests", CRC32 by default) sends checksums R2 rejects unless both settings say
 * when_required; older clients do not know the settings and refuse them at boot (ArgumentError).
 */
export const CHECKSUM_SETTINGS_SINCE = "1.178.0";
const AWS_GEM = "aws-sdk-s3";

export function checkStorage(app: AppFiles, service: string, report: Report): void {
    const file = FILES.storage;
    const entry = `the ${service}: entry the stack renders (npm run plan writes it to out/<stack>/storage/active-storage.yml)`;
    const text = app.read(file);
    if (text === undefined) {
        report.add(file, undefined, `missing; Active Storage reads its services from it: add ${entry}`);
        return;
    }
    const yaml = loadYaml(file, text, report);
    if (!yaml) return;
    const root = asMap(yaml, yaml.doc.contents);
    const pairs = root ? pairsOf(yaml, root, service) : [];
    if (pairs.length === 0) {
        report.add(file, undefined, `has no ${service}: service, where the stack keeps attachments (R2): add ${entry} and set config.active_storage.service = :${service}`);
    }
    for (const pair of pairs) {
        const map = asMap(yaml, pair.value);
        const kinds = map ? pairsOf(yaml, map, "service") : [];
        const kind = kinds.map((k) => sourceOf(yaml, k.value)).join(", ");
        if (!map || !(kinds.length === 1 && YAML.isScalar(kinds[0].value) && kinds[0].value.value === "S3")) {
            const what = kinds.length === 0 ? "has no service:" : `has service: ${kind}`;
            report.add(file, lineOf(yaml, kinds[0]?.key ?? pair.key), `${service}: ${what}; R2 is reached through Active Storage's S3 service: use service: S3 as in ${entry}`);
            continue;
        }
        const aws = awsSdkVersion(app, service, report);
        if (aws === undefined) continue;
        const supported = atLeast(aws, CHECKSUM_SETTINGS_SINCE);
        for (const setting of R2_CHECKSUM_SETTINGS) {
            const found = pairsOf(yaml, map, setting);
            const line = lineOf(yaml, found[0]?.key ?? pair.key);
            if (!supported) {
                if (found.length > 0) {
                    report.add(
                        file,
                        line,
                        `${service}: sets ${setting}, which the locked ${AWS_GEM} ${aws} does not know (it arrived in ${CHECKSUM_SETTINGS_SINCE}): Rails would stop at boot with ArgumentError: invalid configuration option \`:${setting}'; remove it, or run bundle update ${AWS_GEM} to ${CHECKSUM_SETTINGS_SINCE} or later and keep it`,
                    );
                }
                continue;
            }
            if (found.length === 1 && YAML.isScalar(found[0].value) && found[0].value.value === "when_required") continue;
            const has = found.length === 0 ? "lacks" : `has ${setting}: ${found.map((f) => sourceOf(yaml, f.value)).join(", ")} instead of`;
            report.add(
                file,
                line,
                `${service}: ${has} ${found.length === 0 ? `${setting}: when_required` : "when_required"}; ${AWS_GEM} ${CHECKSUM_SETTINGS_SINCE} and later (Gemfile.lock: ${aws}) send checksums R2 rejects, so uploads would fail: add it as in ${entry}`,
            );
        }
    }
}

/** The locked aws-sdk-s3, or undefined once the reason is reported. */
function awsSdkVersion(app: AppFiles, service: string, report: Report): string | undefined {
    const file = FILES.gemfileLock;
    const text = app.read(file);
    if (text === undefined) {
        report.add(file, undefined, `missing; the image installs the locked gems (COPY Gemfile Gemfile.lock), and ${service}: needs ${AWS_GEM}: run bundle install and commit it`);
        return undefined;
    }
    const version = lockedGems(text).get(AWS_GEM);
    if (version === undefined) {
        report.add(file, undefined, `locks no ${AWS_GEM}, which Active Storage's S3 service (config/storage.yml ${service}:) loads at boot: add gem "${AWS_GEM}", require: false to the Gemfile and run bundle install`);
    }
    return version;
}
