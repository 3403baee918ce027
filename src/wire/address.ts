/** Parses "host:port" or "[v6]:port"; throws with a message naming the address. */
export function parseAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const portText = address.slice(at + 1);
  const port = Number(portText);
  if (at <= 0 || host === '' || !/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new Error(`"${address}" is not a host:port address`);
  }
  return { host, port };
}
