import { request as httpRequest, type IncomingMessage } from "node:http";
import { Readable } from "node:stream";

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/** Whether a URL's host is a `localhost` name, which RFC 6761 reserves for loopback. */
export function isLocalhostName(hostname: string): boolean {
  return hostname === "localhost" || hostname.endsWith(".localhost");
}

/**
 * A `fetch` of an `http://*.localhost` URL over 127.0.0.1. Browsers and curl resolve these names
 * to loopback themselves, but getaddrinfo often does not, and Node's `fetch` drops a `Host`
 * header; node:http sends the URL's host as `Host` while connecting to 127.0.0.1. The request
 * body is buffered; redirects are never followed (the caller handles them).
 */
export async function loopbackFetch(url: URL, request: Request): Promise<Response> {
  const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer());
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  headers.host = url.host;
  if (body !== undefined) headers["content-length"] = String(body.length);
  const answer = await new Promise<IncomingMessage>((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: "127.0.0.1",
        port: url.port === "" ? 80 : Number(url.port),
        method: request.method,
        path: `${url.pathname}${url.search}`,
        headers,
        signal: request.signal,
      },
      resolve,
    );
    outgoing.on("error", reject);
    outgoing.end(body);
  });
  const responseHeaders = new Headers();
  for (let index = 0; index + 1 < answer.rawHeaders.length; index += 2) {
    responseHeaders.append(answer.rawHeaders[index]!, answer.rawHeaders[index + 1]!);
  }
  const status = answer.statusCode ?? 502;
  const hasBody = !NULL_BODY_STATUSES.has(status) && request.method !== "HEAD";
  if (!hasBody) answer.resume();
  const response = new Response(hasBody ? (Readable.toWeb(answer) as ReadableStream<Uint8Array>) : null, {
    status,
    statusText: answer.statusMessage ?? "",
    headers: responseHeaders,
  });
  Object.defineProperty(response, "url", { value: url.href });
  return response;
}
