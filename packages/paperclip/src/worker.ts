import { type PaperclipPlugin, runWorker } from "@paperclipai/plugin-sdk";
import { createExeDevPlugin } from "./plugin.js";

/** The worker Paperclip starts (`paperclipPlugin.worker`): the plugin with default options. */
const plugin: PaperclipPlugin = createExeDevPlugin();
export default plugin;

// Starts the RPC host only when Paperclip runs this file; importing it does nothing.
runWorker(plugin, import.meta.url);
