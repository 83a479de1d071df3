// A file stream outlives the call that opened it, so the connection's hold on the process (see
// SshSandbox's #held) must also cover each read, write and close made through the stream later:
// otherwise a script whose only pending work is `await writer.close()` exits with the file
// still a temp file. Each step is held only while it is pending, so a stream that is dropped
// unfinished does not keep the process alive, as an idle sandbox does not.

import { onStreamAbort } from "./file-abort.js";

/** Runs `work` as pending work of the connection. */
export type Hold = <T>(work: () => Promise<T>) => Promise<T>;

/** `inner`, with every pending read and cancel held. Pulls only as the reader reads (no read-ahead here). */
export function heldReadable(inner: ReadableStream<Uint8Array>, hold: Hold): ReadableStream<Uint8Array> {
  const reader = inner.getReader();
  return new ReadableStream<Uint8Array>(
    {
      pull: (controller) =>
        hold(async () => {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        }),
      cancel: (reason) => hold(() => reader.cancel(reason)),
    },
    { highWaterMark: 0 },
  );
}

/** `inner`, with every pending write, close and abort held; an abort reaches `inner` at once. */
export function heldWritable(inner: WritableStream<Uint8Array>, hold: Hold): WritableStream<Uint8Array> {
  const writer = inner.getWriter();
  return new WritableStream<Uint8Array>({
    // The sink's abort() runs only after a pending write settles; the controller's signal
    // fires at once, so an abort still cuts a write stuck on a frozen connection.
    start: (controller) => onStreamAbort(controller, (reason) => void writer.abort(reason).catch(() => {})),
    write: (chunk) => hold(() => writer.write(chunk)),
    close: () => hold(() => writer.close()),
    abort: (reason) => hold(() => writer.abort(reason)),
  });
}
