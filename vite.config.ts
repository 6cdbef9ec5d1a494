import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Cross-origin isolation (SharedArrayBuffer, wasm threads for onnxruntime-web) in dev AND preview.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  plugins: [react()],
  server: { headers: isolation },
  preview: { headers: isolation },
  worker: { format: 'es' },
  build: { target: 'es2022' },
});
