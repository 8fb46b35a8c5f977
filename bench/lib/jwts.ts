// The JWT peer's credentials: one HS256 token per seeded user, carrying what its /me presents.
import { SignJWT } from 'jose';
import { JWT_SECRET } from './launch.js';
import type { SeededToken } from './postgres.js';

export async function signJwts(tokens: SeededToken[]): Promise<string[]> {
  const key = new TextEncoder().encode(JWT_SECRET);
  return Promise.all(
    tokens.map((t) =>
      new SignJWT({ name: `Bench User ${t.userId}`, email: `user${t.userId}@bench.test`, abilities: ['*'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(String(t.userId))
        .setJti(String(t.userId))
        .setIssuedAt()
        .setExpirationTime('1d')
        .sign(key),
    ),
  );
}
