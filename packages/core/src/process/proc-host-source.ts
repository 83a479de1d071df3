import source from "./proc-host.pl";

/** The process host's perl source (PROCESSES.md beside this file), as it travels to the VM. */
export const PROC_HOST_SOURCE: string = source;
