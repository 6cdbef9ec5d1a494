// Byte sources (a File/Blob, an HTTP URL, a Node file) and output sinks. The engine only sees these.
// Also the two plain records that say where they come from (ModelSpec) and go to (OutputSpec): both
// cross the worker boundary (structured-cloneable) and are turned into sources / sinks here in io/.

export interface ByteSource {
  /** A name for messages: the file's path relative to its model folder, or a URL. */
  readonly name: string;
  readonly size: number;
  /** Reads exactly [offset, offset+length); rejects with IoError if the source is shorter. */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** Whole file as text (config.json, tokenizer files). */
  text(): Promise<string>;
  /**
   * A structured-clone-able description from which another thread (a CPU engine worker) opens the
   * same bytes; absent when the source cannot cross threads.
   */
  portable?(): PortableSource;
}

/** A byte source as it crosses to a worker (postMessage): reopened there by io/portable.ts. */
export type PortableSource =
  | { kind: 'blob'; name: string; blob: Blob }
  | { kind: 'http'; name: string; url: string; size: number }
  | { kind: 'memory'; name: string; bytes: Uint8Array }
  | { kind: 'node-file'; name: string; path: string; size: number }
  /** A Hub file at a pinned commit (io/hub/source.ts); the token travels in memory only. */
  | { kind: 'hub'; name: string; file: { endpoint: string; repo: string; commit: string; path: string; size: number }; token?: string; cacheBytes?: number }
  /**
   * A Hub file read by a Node worker thread itself (io/hub/node-thread.ts): the CLI's disk cache
   * folder, its retry policy, and shared buffers for the process's counters and block claims
   * (io/hub/shared.ts); the token travels in memory only. `channel` names the BroadcastChannel
   * that carries retry warnings to the CLI.
   */
  | {
      kind: 'node-hub';
      name: string;
      file: { endpoint: string; repo: string; commit: string; path: string; size: number };
      token?: string;
      cacheDir?: string;
      cacheBytes?: number;
      retry?: { maxRetries: number; baseDelayMs: number; maxDelayMs: number; maxRetryAfterMs: number };
      counters: SharedArrayBuffer;
      claims?: SharedArrayBuffer;
      channel?: string;
      /** Where the Hub redirected the file's reads, when the sending thread knows (one round trip less). */
      storageUrl?: string;
    };

/** One output file being written, bytes appended in order. */
export interface FileWriter {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/**
 * An output folder. Files are written under a temporary name and only appear under the final
 * name on commit(); abort() removes everything written so far.
 */
export interface OutputSink {
  create(path: string): Promise<FileWriter>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Where a model's files come from, as seen by the engine. */
export interface ModelFileSpec {
  /** Path inside the model folder, e.g. "model-00001-of-00002.safetensors" or "config.json". */
  path: string;
  size: number;
  /** Either a URL readable with HTTP Range requests … */
  url?: string;
  /** … or a File / Blob (the studio) … */
  blob?: Blob;
  /**
   * … or a file of a Hub repo at a pinned commit (io/hub/source.ts). The token is never part of a
   * spec (specs are saved with evolution runs): the engine takes it from its Hub session.
   */
  hub?: { endpoint: string; repo: string; commit: string };
}
export interface ModelSpec {
  /** The reference exactly as the recipe writes it ("model+adapter" for a LoRA input). */
  ref: string;
  /** The model folder's files (the base model's, for "model+adapter"). */
  files: ModelFileSpec[];
  /** A PEFT LoRA adapter applied to the model as it streams (adapter_config.json, adapter_model.safetensors). */
  adapter?: { ref: string; files: ModelFileSpec[] };
}

/** Where a merge's output folder goes (io/sinks.ts `sinkFor` makes the sink). */
export type OutputSpec =
  /** The CLI: files are streamed to a localhost server over one WebSocket (see io/ws-sink.ts). */
  | { kind: 'ws'; url: string }
  /** Files are streamed to a localhost server with HTTP requests (see io/http-sink.ts). */
  | { kind: 'http'; url: string }
  /** The studio: a directory the user picked (File System Access API). */
  | { kind: 'directory'; handle: FileSystemDirectoryHandle }
  /** OPFS subdirectory name (fallback, and tests). */
  | { kind: 'opfs'; dir: string }
  /** Keep everything in memory and return it (tests only; small models). */
  | { kind: 'memory' };
