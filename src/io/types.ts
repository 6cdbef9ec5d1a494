// Byte sources (a File/Blob, an HTTP URL, a Node file) and output sinks. The engine only sees these.

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
  | { kind: 'node-file'; name: string; path: string; size: number };

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
