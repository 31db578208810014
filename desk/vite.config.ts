import { defineConfig } from "vite";

// Preact's automatic JSX runtime; no plugin needed. The build is plain static files
// (index.html, hashed assets/), served by CloudFront from S3 or locally by serve.mjs.
export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { target: "es2022", sourcemap: false, assetsInlineLimit: 0 },
});
