/** Lists of IP addresses and CIDR ranges from the config (e.g. `http.trusted_proxies`). */
import { BlockList, isIP } from 'node:net';

/** A BlockList of addresses and CIDR ranges (undefined when empty); throws on a malformed entry. */
export function addressList(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address);
    if (family === 0) throw new Error(`"${entry}" is not an IP address or CIDR range`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else {
      const bits = Number(prefix);
      if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128))
        throw new Error(`"${entry}" has an invalid prefix length`);
      list.addSubnet(address, bits, type);
    }
  }
  return list;
}
