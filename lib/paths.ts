// Facts of the host shared by cloud-init, Kamal and Litestream, so the three can never disagree.

/** Where cloud-init mounts the storage volume on the host. */
export const STORAGE_HOST_PATH = "/mnt/storage";
/** Where the app and Litestream containers see it (Rails' default storage/ directory). */
export const STORAGE_CONTAINER_PATH = "/rails/storage";
/** The login Kamal deploys as: in the docker group, no sudo. */
export const DEPLOY_USER = "deploy";
/** uid of the app container's user (the `rails` user of Rails' generated Dockerfile). */
export const APP_UID = 1000;
/**
 * kamal-proxy publishes its ports on this address only: cloudflared, on the same host, reaches it
 * there, and Docker's published ports (which bypass ufw) are reachable from nowhere else.
 */
export const PROXY_BIND_IP = "127.0.0.1";
/** Where the deploy step writes the tunnel token, relative to the deploy user's home. */
export const TUNNEL_TOKEN_IN_HOME = ".rails-host/tunnel-token";
/** The same file as the host's services name it. */
export const TUNNEL_TOKEN_FILE = `/home/${DEPLOY_USER}/${TUNNEL_TOKEN_IN_HOME}`;
/** What the host's bootstrap reports per step (world-readable: the deploy step shows it). */
export const BOOTSTRAP_REPORT = "/var/lib/rails-host/bootstrap.report";
