import { posix } from "node:path";

// deepagents decides text versus binary from the file extension alone (`getMimeType` and
// `isTextMimeType` in its backends/utils). Its read_file tool turns binary reads into image,
// audio, video or file content blocks, so the backend must classify paths exactly as it does.
const BINARY: Readonly<Record<string, string>> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".heic": "image/heic",
  ".heif": "image/heif",
  ".mp3": "audio/mpeg",
  ".wav": "audio/wav",
  ".aiff": "audio/aiff",
  ".aac": "audio/aac",
  ".ogg": "audio/ogg",
  ".flac": "audio/flac",
  ".mp4": "video/mp4",
  ".webm": "video/webm",
  ".mpeg": "video/mpeg",
  ".mov": "video/quicktime",
  ".avi": "video/x-msvideo",
  ".flv": "video/x-flv",
  ".mpg": "video/mpeg",
  ".wmv": "video/x-ms-wmv",
  ".3gpp": "video/3gpp",
  ".pdf": "application/pdf",
  ".ppt": "application/vnd.ms-powerpoint",
  ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
};

// Text types other than deepagents' default "text/plain".
const TEXT: Readonly<Record<string, string>> = {
  ".svg": "image/svg+xml",
  ".md": "text/markdown",
  ".markdown": "text/markdown",
  ".html": "text/html",
  ".htm": "text/html",
  ".css": "text/css",
  ".csv": "text/csv",
  ".xml": "text/xml",
  ".json": "application/json",
  ".js": "application/javascript",
  ".mjs": "application/javascript",
  ".cjs": "application/javascript",
};

/** The MIME type deepagents gives `path`, and whether it treats the content as bytes. */
export function mimeTypeOf(path: string): { mimeType: string; binary: boolean } {
  const name = posix.basename(path);
  const dot = name.lastIndexOf(".");
  const extension = dot <= 0 ? "" : name.slice(dot).toLowerCase();
  const binary = BINARY[extension];
  if (binary) return { mimeType: binary, binary: true };
  return { mimeType: TEXT[extension] ?? "text/plain", binary: false };
}

/** The extensions deepagents treats as binary (`.png`, `.pdf`, …), which its grep skips. */
export const BINARY_EXTENSIONS: readonly string[] = Object.keys(BINARY);
