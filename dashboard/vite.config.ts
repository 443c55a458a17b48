import { defineConfig } from "vite";

// The build is embedded into the dashboard component (components/dashboard): hashed asset
// names let it serve them as immutable, and no source maps keep the component small.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
    assetsInlineLimit: 0,
    // Swagger UI (the API page) is one prebuilt 1.6 MB bundle, loaded only when that page opens.
    chunkSizeWarningLimit: 2000,
  },
  server: {
    // `npm run dev` against a local `bourse up`.
    proxy: {
      "/api": "http://127.0.0.1:3000",
      "/admin": "http://127.0.0.1:3000",
      "/health": "http://127.0.0.1:3000",
      "/ready": "http://127.0.0.1:3000",
      "/metrics": "http://127.0.0.1:3000",
      "/ws": { target: "ws://127.0.0.1:3000", ws: true },
    },
  },
});
