import { defineConfig } from "vite";

// Relative asset URLs ("./assets/…"): the built app works wherever it is served from, at the
// root or under a reverse proxy's path prefix; src/base.ts finds that prefix at run time.
export default defineConfig({
  base: "./",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    target: "es2022",
    // The API embeds dist/ and serves precompressed files itself; no source maps to ship.
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    // `npm run dev` talks to an API running on its default port (make run).
    proxy: Object.fromEntries(
      ["/render", "/metrics", "/functions", "/events", "/api", "/tags", "/version", "/healthz"].map(
        (path) => [path, "http://127.0.0.1:8080"],
      ),
    ),
  },
});
