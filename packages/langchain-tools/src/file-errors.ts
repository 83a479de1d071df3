import { isSandboxError, type SandboxErrorCode } from "@exedev-sandbox/core";
import type { FileOperationError } from "deepagents";

// File-system outcomes a model can act on, as deepagents' error values. Anything else (the VM is
// gone, the sandbox was closed, an abort) is not about the file and is thrown to the agent.
const OPERATION_ERRORS: Readonly<Partial<Record<SandboxErrorCode, FileOperationError>>> = {
  not_found: "file_not_found",
  permission_denied: "permission_denied",
  is_a_directory: "is_directory",
  not_a_directory: "invalid_path",
  invalid_argument: "invalid_path",
  already_exists: "invalid_path",
  not_empty: "invalid_path",
  io_error: "invalid_path",
};

/** deepagents' error value for a failed file operation; rethrows failures that are not about the file. */
export function toOperationError(error: unknown): FileOperationError {
  const code = isSandboxError(error) ? OPERATION_ERRORS[error.code] : undefined;
  if (code === undefined) throw error;
  return code;
}

/** The message of a failure {@link toOperationError} accepted. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
