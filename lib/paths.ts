// Fixed paths shared by cloud-init, Kamal and Litestream, so the three can never disagree.

/** Where cloud-init mounts the storage volume on web host 1. */
export const STORAGE_HOST_PATH = "/mnt/storage";
/** Where the app and Litestream containers see it (Rails' default storage/ directory). */
export const STORAGE_CONTAINER_PATH = "/rails/storage";
