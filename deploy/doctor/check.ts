// The whole check of one app against what the stack deploys. Pure: files arrive through AppFiles and
// the image's config, when read from the registry, as data; every problem is collected, none thrown.
import { checkDatabases } from "./database";
import { checkSqlite, readDockerfile } from "./dockerfile";
import { checkEntrypoint } from "./entrypoint";
import { checkEnvironment } from "./environment";
import { APP_ROOT, AppFiles, FILES } from "./files";
import { checkImage, ImageConfig, SERVER_CMD, serverArgv } from "./image";
import { DoctorProblem, Report } from "./report";
import { checkStorage } from "./storage";

/** What the stack deploys, which the app has to agree with. */
export interface DoctorExpectations {
    /** RAILS_ENV that Kamal sets at run time. */
    readonly railsEnv: string;
    /** The litestream.yml the stack ships (renderers/litestream.ts). */
    readonly litestreamYaml: string;
    /** The config/storage.yml service that keeps attachments (ACTIVE_STORAGE_SERVICE). */
    readonly activeStorageService: string;
    /** Kamal's service (the stack's `app`): the label an image built elsewhere must carry. */
    readonly service?: string;
    /** The deployed image's own config, read from the registry (buildImage: false); else the Dockerfile's. */
    readonly image?: ImageConfig;
}

/** Checks the app; problems sorted by file, then line. */
export function checkApp(app: AppFiles, expect: DoctorExpectations): DoctorProblem[] {
    const report = new Report();
    checkEnvironment(app, expect.railsEnv, expect.activeStorageService, report);
    checkDatabases(app, expect.railsEnv, expect.litestreamYaml, report);
    const text = app.read(FILES.dockerfile);
    const dockerfile = text === undefined ? undefined : readDockerfile(text);
    if (dockerfile) checkSqlite(dockerfile, report);
    else if (!expect.image) report.add(FILES.dockerfile, undefined, `missing; Kamal builds the app's image from it: add Rails 8's generated Dockerfile (${SERVER_CMD})`);
    const image = expect.image ?? dockerfile?.image;
    if (image) checkImage(image, { railsEnv: expect.railsEnv, service: expect.service }, report);
    const argv0 = image?.entrypoint?.value[0] ?? `${APP_ROOT}/${FILES.entrypoint}`;
    checkEntrypoint(app, argv0, image ? serverArgv(image) : ["./bin/thrust", "./bin/rails", "server"], report);
    checkStorage(app, expect.activeStorageService, report);
    return report.sorted();
}
