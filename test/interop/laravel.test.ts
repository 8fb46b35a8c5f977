// Laravel interop (docs/api.md §2), proven with PHP itself: passwords hashed by PHP's password_hash
// log in through latchkey and the `$2y$` hashes latchkey writes pass PHP's password_verify; a
// token made the Sanctum 4 way is accepted by latchkey, and a token latchkey issued is accepted
// by a few lines of PHP mirroring Sanctum 4's PersonalAccessToken::findToken and can().
// PHP must be installed (npm test installs php-cli as root); a missing `php` fails these tests.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { register, useStack, type TestApp } from '../helpers/app.js';
import { DB_KINDS } from '../helpers/databases.js';
import { toSqlTime } from '../../src/store/time.js';
import { php } from '../helpers/php.js';

const READ_INPUT = '$in = json_decode(stream_get_contents(STDIN), true);';

/** PHP's password_hash with PASSWORD_BCRYPT (cost 10, PHP's default), as Laravel's Hash::make. */
const PHP_PASSWORD_HASH = `${READ_INPUT} echo password_hash($in['password'], PASSWORD_BCRYPT);`;
const PHP_PASSWORD_VERIFY = `${READ_INPUT} echo password_verify($in['password'], $in['hash']) ? 'valid' : 'invalid';`;

/**
 * Sanctum 4's HasApiTokens::createToken: Str::random(40) (random_bytes, base64 without /+=),
 * the prefix, the CRC32b of the 40 characters; the row stores hash('sha256', $plainTextToken).
 */
const PHP_SANCTUM_CREATE_TOKEN = `${READ_INPUT}
$entropy = '';
while (strlen($entropy) < 40) {
    $entropy .= str_replace(['/', '+', '='], '', base64_encode(random_bytes(40)));
}
$entropy = substr($entropy, 0, 40);
$plainTextToken = sprintf('%s%s%s', $in['prefix'], $entropy, hash('crc32b', $entropy));
echo json_encode(['plain' => $plainTextToken, 'token' => hash('sha256', $plainTextToken), 'abilities' => json_encode($in['abilities'])]);`;

/**
 * Sanctum 4's PersonalAccessToken::findToken over the given rows (standing in for the table),
 * then the guard's checks: tokenable_type, expires_at not past, and can($ability).
 */
const PHP_SANCTUM_FIND_TOKEN = `${READ_INPUT}
$rows = $in['rows'];
$find = function ($id) use ($rows) { foreach ($rows as $row) { if ((string) $row['id'] === (string) $id) return $row; } return null; };
$findToken = function ($token) use ($rows, $find) {
    if (strpos($token, '|') === false) {
        foreach ($rows as $row) { if ($row['token'] === hash('sha256', $token)) return $row; }
        return null;
    }
    [$id, $token] = explode('|', $token, 2);
    if ($instance = $find($id)) {
        return hash_equals($instance['token'], hash('sha256', $token)) ? $instance : null;
    }
    return null;
};
$row = $findToken($in['token']);
if ($row === null) { echo json_encode(['found' => false]); exit; }
$expires = $row['expires_at'] === null ? null : DateTime::createFromFormat('Y-m-d H:i:s', $row['expires_at'], new DateTimeZone('UTC'));
$abilities = json_decode($row['abilities'], true);
echo json_encode([
    'found' => true,
    'id' => (int) $row['id'],
    'user_model' => $row['tokenable_type'] === 'App\\\\Models\\\\User',
    'expires_parsed' => $row['expires_at'] === null || $expires !== false,
    'expired' => $expires !== null && $expires !== false && $expires < new DateTime('now', new DateTimeZone('UTC')),
    'can' => in_array('*', $abilities, true) || array_key_exists($in['ability'], array_flip($abilities)),
    'abilities' => $abilities,
]);`;

async function tokenRows(app: TestApp) {
  const rows = await app.latchkey.store.db.selectFrom('personal_access_tokens').selectAll().execute();
  return rows.map((r) => ({ ...r, expires_at: r.expires_at === null ? null : String(r.expires_at).slice(0, 19) }));
}

describe('PHP is installed', () => {
  test('php -r runs (the interop tests need it; npm test installs php-cli as root)', async () => {
    assert.equal(await php('echo PHP_MAJOR_VERSION >= 8 ? "ok" : "old";'), 'ok');
  });
});

for (const db of DB_KINDS) {
  describe(`Laravel interop on ${db}`, () => {
    const ctx = useStack({ db, cache: 'memory' });

    test("a user with PHP's password_hash logs in through latchkey; PHP verifies the rehash latchkey wrote", async () => {
      const password = 'laravel-wrote-this-ä';
      const phpHash = await php(PHP_PASSWORD_HASH, { password });
      assert.match(phpHash, /^\$2y\$10\$[./A-Za-z0-9]{53}$/);
      const email = `Taylor.${Date.now()}@Laravel.com`;
      const at = toSqlTime(Date.now());
      await ctx.app.latchkey.store.db
        .insertInto('users')
        .values({ name: 'Taylor', email, password: phpHash, email_verified_at: null, remember_token: null, created_at: at, updated_at: at })
        .execute();

      const login = await ctx.app.request('POST', '/api/auth/login', { body: { email: email.toLowerCase(), password } });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      assert.equal(login.body.user.email, email);

      const row = await ctx.app.latchkey.store.db.selectFrom('users').select('password').where('id', '=', login.body.user.id).executeTakeFirstOrThrow();
      assert.match(row.password, /^\$2y\$04\$/, 'rehashed to BCRYPT_ROUNDS on login');
      assert.equal(await php(PHP_PASSWORD_VERIFY, { password, hash: row.password }), 'valid');
    });

    test("PHP's password_verify accepts the $2y$ hash latchkey wrote at registration", async () => {
      const { user, password } = await register(ctx.app, `hash.${Date.now()}@example.com`, 'pässword-from-latchkey');
      const { password: hash } = await ctx.app.latchkey.store.db.selectFrom('users').select('password').where('id', '=', user.id).executeTakeFirstOrThrow();
      assert.match(hash, /^\$2y\$/);
      assert.equal(await php(PHP_PASSWORD_VERIFY, { password, hash }), 'valid');
      assert.equal(await php(PHP_PASSWORD_VERIFY, { password: `${password}x`, hash }), 'invalid');
    });

    for (const prefix of ['', 'lk_']) {
      test(`a token created the Sanctum way in PHP (token_prefix "${prefix}") works in latchkey`, async () => {
        const { user } = await register(ctx.app);
        const made = JSON.parse(await php(PHP_SANCTUM_CREATE_TOKEN, { prefix, abilities: ['posts:read'] })) as { plain: string; token: string; abilities: string };
        const now = toSqlTime(Date.now());
        await ctx.app.latchkey.store.db
          .insertInto('personal_access_tokens')
          .values({
            tokenable_type: 'App\\Models\\User',
            tokenable_id: user.id,
            name: 'from-laravel',
            token: made.token,
            abilities: made.abilities,
            last_used_at: null,
            expires_at: null,
            created_at: now,
            updated_at: now,
          })
          .execute();
        const { id } = await ctx.app.latchkey.store.db.selectFrom('personal_access_tokens').select('id').where('token', '=', made.token).executeTakeFirstOrThrow();

        const me = await ctx.app.request('GET', '/api/auth/me', { token: `${id}|${made.plain}` });
        assert.equal(me.status, 200, JSON.stringify(me.body));
        assert.equal(me.body.user.id, user.id);
        assert.equal(me.body.token.id, Number(id));
        assert.deepEqual(me.body.token.abilities, ['posts:read']);
        assert.equal((await ctx.app.request('GET', '/api/auth/verify?ability=posts:read', { token: `${id}|${made.plain}` })).status, 200);
        assert.equal((await ctx.app.request('GET', '/api/auth/verify?ability=posts:write', { token: `${id}|${made.plain}` })).status, 403);
        assert.equal((await ctx.app.request('GET', '/api/auth/me', { token: made.plain })).status, 200, 'the bare secret too, as Sanctum');
      });
    }

    test("a token latchkey issued is accepted by Sanctum 4's findToken, with the columns Laravel expects", async () => {
      const { token, user } = await register(ctx.app);
      const limited = await ctx.app.request('POST', '/api/auth/tokens', { token, body: { name: 'ci', abilities: ['deploy', 'read'], expires_in_minutes: 60 } });
      assert.equal(limited.status, 201);
      const rows = await tokenRows(ctx.app);
      const check = async (presented: string, ability = 'read') => JSON.parse(await php(PHP_SANCTUM_FIND_TOKEN, { rows, token: presented, ability }));

      const full = await check(token);
      assert.equal(full.found, true);
      assert.equal(full.id, Number(token.split('|')[0]));
      assert.equal(full.user_model, true, "tokenable_type is 'App\\Models\\User'");
      assert.equal(full.expires_parsed, true, "expires_at is Laravel's Y-m-d H:i:s");
      assert.equal(full.expired, false);
      assert.deepEqual(full.abilities, ['*']);
      assert.equal(full.can, true);

      const ci = await check(limited.body.token, 'deploy');
      assert.equal(ci.found, true);
      assert.deepEqual(ci.abilities, ['deploy', 'read']);
      assert.equal(ci.can, true);
      assert.equal((await check(limited.body.token, 'admin')).can, false);

      const row = rows.find((r) => r.id === ci.id)!;
      assert.equal(Number(row.tokenable_id), user.id);
      assert.equal(row.tokenable_type, 'App\\Models\\User');
      assert.equal(row.abilities, '["deploy","read"]');

      assert.equal((await check(token.split('|')[1]!)).found, true, 'the bare secret, looked up by hash');
      const [id, secret] = token.split('|') as [string, string];
      assert.equal((await check(`${id}|${secret.slice(0, -1)}x`)).found, false, 'a wrong secret is refused');
      assert.equal((await check(`${ci.id}|${secret}`)).found, false, "a secret behind another token's id is refused");
    });
  });
}
