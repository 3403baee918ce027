/** Room for the multipart framing and the other fields around an uploaded file. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** "5 MiB", "512 KiB", "900 bytes". */
export function formatBytes(bytes: number): string {
  const MiB = 1024 * 1024;
  if (bytes >= MiB) return `${Number((bytes / MiB).toFixed(1))} MiB`;
  if (bytes >= 1024) return `${Number((bytes / 1024).toFixed(1))} KiB`;
  return `${bytes} bytes`;
}
