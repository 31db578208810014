#!/usr/bin/env node
// Serves the built desk (dist/) locally the way CloudFront serves it on AWS: the same security
// headers, /config.json written from the environment, /api/* forwarded to the desk API and
// /cognito/ to the user pool's endpoint (the local AWS emulator), so the page needs no
// cross-origin request. No dependencies beyond Node.js.
//
//   DESK_API_URL=... AWS_ENDPOINT_URL=... DESK_USER_POOL_ID=... DESK_CLIENT_ID=... node serve.mjs
//
// DESK_PORT (default 8090; 0 picks a free one), DESK_HOST (127.0.0.1), DESK_URL_FILE (the URL is
// written there once listening), DESK_POLL_SECONDS (the inbox's refresh, default 3),
// DESK_MEDIA_ORIGIN (where the media bucket's presigned links point; default the emulator's
// origin, AWS_ENDPOINT_URL).
import { createReadStream, existsSync, statSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "dist");
const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`serve.mjs: ${name} is not set (run it in the local stack's environment)`);
    process.exit(2);
  }
  return v;
};
const apiBase = need("DESK_API_URL").replace(/\/$/, "");
const cognitoBase = need("AWS_ENDPOINT_URL").replace(/\/$/, "");
const region = process.env.AWS_REGION || "us-east-1";
const config = {
  api_url: "/api",
  cognito: {
    region,
    user_pool_id: need("DESK_USER_POOL_ID"),
    client_id: need("DESK_CLIENT_ID"),
    endpoint: "/cognito/",
  },
  poll_seconds: Number(process.env.DESK_POLL_SECONDS || 3),
};
if (!existsSync(join(root, "index.html"))) {
  console.error(`serve.mjs: ${root}/index.html is missing; build first (npm run build)`);
  process.exit(2);
}

// The headers the CloudFront response headers policy sets (infra/): a page that works here
// works under the deployed policy. Photos, voice notes and videos load from the media bucket's
// presigned links, another origin: the bucket's regional host on AWS
// (https://{bucket}.s3.{region}.amazonaws.com), the emulator here; only for img-src and
// media-src (never scripts, styles or connections).
const mediaOrigin = new URL(process.env.DESK_MEDIA_ORIGIN || cognitoBase).origin;
const SECURITY = {
  "Content-Security-Policy":
    `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: ${mediaOrigin}; ` +
    `media-src 'self' blob: ${mediaOrigin}; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; ` +
    "form-action 'none'; object-src 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "strict-origin-when-cross-origin",
};
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

function forward(req, res, target) {
  const url = new URL(target);
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const headers = { ...req.headers, host: url.host };
  const out = send(url, { method: req.method, headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, { ...up.headers, ...SECURITY });
    up.pipe(res);
  });
  out.on("error", (e) => {
    res.writeHead(502, { "Content-Type": "application/json", ...SECURITY });
    res.end(JSON.stringify({ error: "bad_gateway", message: String(e.message) }));
  });
  req.pipe(out);
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://local").pathname;
  const at = (req.url ?? "").indexOf("?");
  const query = at >= 0 ? (req.url ?? "").slice(at) : "";
  if (path === "/api" || path.startsWith("/api/")) return forward(req, res, apiBase + path.slice(4) + query);
  if (path === "/cognito/" || path === "/cognito") return forward(req, res, `${cognitoBase}/`);
  if (path === "/config.json") {
    res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-store", ...SECURITY });
    return res.end(JSON.stringify(config));
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, SECURITY);
    return res.end();
  }
  // A file of dist/, else the app (its routes live in the fragment).
  let file;
  try {
    file = normalize(join(root, decodeURIComponent(path)));
  } catch {
    res.writeHead(400, SECURITY);
    return res.end();
  }
  if (!file.startsWith(root + sep) || !existsSync(file) || statSync(file).isDirectory()) {
    file = join(root, "index.html");
  }
  const immutable = file.includes(`${join(root, "assets")}`);
  res.writeHead(200, {
    "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
    "Cache-Control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    ...SECURITY,
  });
  if (req.method === "HEAD") return res.end();
  createReadStream(file).pipe(res);
});

server.listen(Number(process.env.DESK_PORT ?? 8090), process.env.DESK_HOST || "127.0.0.1", () => {
  const { address, port } = server.address();
  const url = `http://${address}:${port}/`;
  if (process.env.DESK_URL_FILE) writeFileSync(process.env.DESK_URL_FILE, url);
  console.error(`desk: ${url} (API ${apiBase}, Cognito ${cognitoBase})`);
});
