// What the Rails app needs to keep Active Storage attachments in R2: plain values the Kamal set
// passes as env, and the config/storage.yml service entry that reads them.
import * as YAML from "yaml";

/** Env var names the app reads; the key values reach it only as Kamal secrets. */
export const ACTIVE_STORAGE_ENV = {
    bucket: "R2_BUCKET",
    endpoint: "R2_ENDPOINT",
    accessKeyId: "R2_ACCESS_KEY_ID",
    secretAccessKey: "R2_SECRET_ACCESS_KEY",
} as const;

/** The service name in config/storage.yml (`config.active_storage.service = :r2`). */
export const ACTIVE_STORAGE_SERVICE = "r2";

export interface ActiveStorageSettings {
    /** The attachments bucket. */
    readonly bucket: string;
    /** R2's S3 endpoint for the bucket's jurisdiction. */
    readonly endpoint: string;
    /** R2 takes any region for signing; "auto" is the documented one. */
    readonly region: "auto";
    /** Path-style requests: the bucket stays out of the host name. */
    readonly forcePathStyle: true;
    /** Clear env for the app container. */
    readonly env: Readonly<Record<string, string>>;
    /** Names of the secret env vars (values: the stack's scoped S3 credentials). */
    readonly secretEnv: readonly string[];
}

export function activeStorageSettings(input: { readonly bucket: string; readonly endpoint: string }): ActiveStorageSettings {
    return {
        bucket: input.bucket,
        endpoint: input.endpoint,
        region: "auto",
        forcePathStyle: true,
        env: { [ACTIVE_STORAGE_ENV.bucket]: input.bucket, [ACTIVE_STORAGE_ENV.endpoint]: input.endpoint },
        secretEnv: [ACTIVE_STORAGE_ENV.accessKeyId, ACTIVE_STORAGE_ENV.secretAccessKey],
    };
}

const fetchEnv = (name: string): string => `<%= ENV.fetch("${name}") %>`;

/**
 * The config/storage.yml entry. Every stack-specific value is read from env, so one image serves
 * every stack; the header comment records this stack's values for reference.
 */
export function renderActiveStorage(settings: ActiveStorageSettings): string {
    const doc = new YAML.Document({
        [ACTIVE_STORAGE_SERVICE]: {
            service: "S3",
            access_key_id: fetchEnv(ACTIVE_STORAGE_ENV.accessKeyId),
            secret_access_key: fetchEnv(ACTIVE_STORAGE_ENV.secretAccessKey),
            region: settings.region,
            bucket: fetchEnv(ACTIVE_STORAGE_ENV.bucket),
            endpoint: fetchEnv(ACTIVE_STORAGE_ENV.endpoint),
            force_path_style: settings.forcePathStyle,
            // aws-sdk-s3 1.178 and later send integrity checksums R2 rejects unless told to send
            // them only when required (developers.cloudflare.com/r2/examples/aws/aws-sdk-ruby/).
            request_checksum_calculation: "when_required",
            response_checksum_validation: "when_required",
        },
    });
    doc.commentBefore = [
        " config/storage.yml service entry; set config.active_storage.service = :r2.",
        ...Object.entries(settings.env).map(([name, value]) => ` ${name}=${value}`),
        ` Secrets: ${settings.secretEnv.join(", ")}`,
    ].join("\n");
    return doc.toString();
}
