import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { base58btc } from 'multiformats/bases/base58';
import { addressOf, isAddress, publicKeyOf } from './address.ts';
import { base58Decode, base58Encode } from './base58.ts';
import { createIdentity, loadIdentity } from './identity.ts';
import { makeSiteProof, verifySiteProof } from '../sync/proof.ts';

/** libp2p's answer to "is this an Ed25519 peer id?" (what isAddress used to call). */
function libp2pIsAddress(text: string): boolean {
  try {
    return peerIdFromString(text).type === 'Ed25519';
  } catch {
    return false;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'ddcp-address-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('base58', () => {
  it('encodes and decodes as multiformats does, leading zeros included', () => {
    for (let n = 0; n < 300; n++) {
      const bytes = new Uint8Array(n % 50);
      for (let i = 0; i < bytes.length; i++) bytes[i] = i < n % 4 ? 0 : Math.floor(Math.random() * 256);
      const text = base58btc.encode(bytes).slice(1); // without multibase's 'z'
      assert.equal(base58Encode(bytes), text);
      assert.deepEqual(base58Decode(text), bytes);
    }
  });

  it('refuses characters outside the alphabet', () => {
    for (const bad of ['0', 'O', 'I', 'l', '12D3KooW+', ' 1']) assert.equal(base58Decode(bad), undefined);
  });
});

describe('addresses without libp2p', () => {
  it("equal libp2p's peer ids for 300 random Ed25519 keys, and name their public keys", async () => {
    for (let i = 0; i < 300; i++) {
      const key = await generateKeyPair('Ed25519');
      const peerId = peerIdFromPrivateKey(key).toString();
      assert.equal(addressOf(key.publicKey.raw), peerId);
      assert.deepEqual(publicKeyOf(peerId), key.publicKey.raw);
      assert.equal(isAddress(peerId), true);
    }
  });

  it('agrees with libp2p on what is an address: mutated, cut and lengthened peer ids, other key types, junk', async () => {
    const samples: string[] = ['', '1', '12D3KooW', 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N', 'not an address', '../alice', '/ip4/1.2.3.4/tcp/1'];
    samples.push(peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString());
    for (let i = 0; i < 40; i++) {
      const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
      samples.push(id, id.slice(0, -1), id + 'a', '1' + id, id.slice(1));
      for (let k = 0; k < 10; k++) {
        const at = Math.floor(Math.random() * id.length);
        const c = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'[Math.floor(Math.random() * 58)]!;
        samples.push(id.slice(0, at) + c + id.slice(at + 1));
      }
    }
    for (const s of samples) assert.equal(isAddress(s), libp2pIsAddress(s), s);
  });
});

describe('identity key files', () => {
  it('a key ddcp creates is one libp2p reads, with the same address', async () => {
    for (let i = 0; i < 20; i++) {
      const path = join(dir, `created-${i}.key`);
      const id = await createIdentity(path);
      const key = privateKeyFromProtobuf(readFileSync(path));
      assert.equal(key.type, 'Ed25519');
      assert.equal(peerIdFromPrivateKey(key).toString(), id.address);
      assert.equal(loadIdentity(path).address, id.address);
      assert.deepEqual(id.privateKey.raw, key.raw); // libp2p's object, made on first use
      const msg = new TextEncoder().encode('signed by the identity');
      assert.equal(await key.publicKey.verify(msg, await id.privateKey.sign(msg)), true);
    }
  });

  it('signs with node:crypto what libp2p verifies; a site proof verifies from the address alone, for that site id only', async () => {
    const site = new Uint8Array(16).fill(3);
    for (let i = 0; i < 5; i++) {
      const path = join(dir, `signer-${i}.key`);
      const id = await createIdentity(path);
      const key = privateKeyFromProtobuf(readFileSync(path));
      const msg = new TextEncoder().encode(`message ${i}`);
      assert.equal(await key.publicKey.verify(msg, id.sign(msg)), true);
      const proof = makeSiteProof(site, id.address, id.sign);
      assert.equal(verifySiteProof(site, proof), true);
      assert.equal(verifySiteProof(new Uint8Array(16).fill(4), proof), false, 'another site id');
      const other = await createIdentity(join(dir, `other-${i}.key`));
      assert.equal(verifySiteProof(site, { ...proof, address: other.address }), false, 'another address');
      // A key libp2p wrote (loaded through libp2p's code when not in today's encoding) signs the same.
      const old = Uint8Array.of(0x08, 0x01, 0x12, 96, ...key.raw, ...key.publicKey.raw);
      writeFileSync(path, old, { mode: 0o600 });
      assert.equal(verifySiteProof(site, makeSiteProof(site, id.address, loadIdentity(path).sign)), true);
    }
  });

  it("a key libp2p wrote loads with libp2p's address, in today's and the old 96-byte encoding", async () => {
    for (let i = 0; i < 20; i++) {
      const key = await generateKeyPair('Ed25519');
      const path = join(dir, `libp2p-${i}.key`);
      writeFileSync(path, privateKeyToProtobuf(key), { mode: 0o600 });
      const id = loadIdentity(path);
      assert.equal(id.address, peerIdFromPrivateKey(key).toString());
      assert.deepEqual(id.privateKey.raw, key.raw);
      // Old libp2p versions stored seed ‖ public ‖ public.
      const old = Uint8Array.of(0x08, 0x01, 0x12, 96, ...key.raw, ...key.publicKey.raw);
      writeFileSync(path, old, { mode: 0o600 });
      assert.equal(loadIdentity(path).address, peerIdFromPrivateKey(privateKeyFromProtobuf(old)).toString());
    }
  });

  it('a key of another type still loads through libp2p; a damaged one is refused', async () => {
    const key = await generateKeyPair('secp256k1');
    const path = join(dir, 'secp.key');
    writeFileSync(path, privateKeyToProtobuf(key), { mode: 0o600 });
    assert.equal(loadIdentity(path).address, peerIdFromPrivateKey(key).toString());
    const good = privateKeyToProtobuf(await generateKeyPair('Ed25519'));
    writeFileSync(path, good.subarray(0, 40), { mode: 0o600 });
    assert.throws(() => loadIdentity(path), /identity key .* is damaged/);
  });
});
