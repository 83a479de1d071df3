// Test support only (not exported): deepagents' own sandbox behaviour, to compare the backend with.
import {
  BaseSandbox,
  type ExecuteResponse,
  type FileDownloadResponse,
  type FileUploadResponse,
} from "deepagents";
import type { ExeDevDeepAgentsBackend } from "./deepagents-backend.js";

/**
 * deepagents' own BaseSandbox on the same VM: its ls, read, grep, glob, write, edit and delete
 * run deepagents' shell commands; only the transport (execute, upload, download) is ours.
 */
export class ReferenceSandbox extends BaseSandbox {
  readonly id = "reference";
  constructor(private readonly transport: ExeDevDeepAgentsBackend) {
    super();
  }
  async execute(command: string): Promise<ExecuteResponse> {
    return await this.transport.execute(command);
  }
  async uploadFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
    return await this.transport.uploadFiles(files);
  }
  async downloadFiles(paths: string[]): Promise<FileDownloadResponse[]> {
    return await this.transport.downloadFiles(paths);
  }
}
