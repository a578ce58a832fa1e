// GS2's own TypeScript SDK (npm package gs2, compiled to CommonJS) against a
// running bridgekeeper, used the way a game team's server would use it: a
// Gs2RestSession with a BasicGs2Credential, then Gs2AuthRestClient calls
// built from the SDK's request classes. Every assertion is on what the SDK
// parsed, not on raw HTTP.
//
// One walk, subtests in order sharing state: project login -> createAccount
// -> authentication -> loginBySignature -> createTakeOver (me) ->
// describeTakeOvers (me) -> doTakeOver -> authentication with the new
// password -> updateTakeOver (me) with a wrong old password -> federation
// with a policy document -> issueTimeOffsetTokenByUserId -> login with that
// token. Then the rest of the takeover surface on the same player (get,
// update, paging, delete by identifier, federated tokens on /me/ calls),
// GS2-Auth's plain login, and the refusals. Then GS2-Account's OpenID
// Connect takeovers with ID tokens of a fake issuer: createTakeOverOpenIdConnect
// (me) -> doTakeOverOpenIdConnect -> authentication with the password it
// gave -> loginBySignature, the ...AndByUserId form, and their refusals.
//
// interop/interop_test.go starts the broker and runs this file with
// `node --test sdk.test.js` and the environment:
//   BROKER_URL     base URL of the broker, e.g. http://127.0.0.1:PORT
//   CLIENT_ID      a client_credentials client of the broker
//   CLIENT_SECRET  its secret
//   NAMESPACE      the client's namespace (GS2-Account's namespaceName)
//   OIDC_TYPE      the takeover type whose provider verifies the ID tokens
//   OIDC_SUB_A, OIDC_ID_TOKEN_A, OIDC_SUB_B, OIDC_ID_TOKEN_B
//                  two identities and a valid ID token of each
//   OIDC_ID_TOKEN_UNKNOWN         a valid ID token of an identity nobody links
//   OIDC_ID_TOKEN_OTHER_AUDIENCE  OIDC_SUB_A's ID token for another game
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const { Gs2Constant, Region } = require('gs2/core/model');
const Gs2Core = require('gs2/core').default;
const Gs2Auth = require('gs2/auth');
const Gs2Account = require('gs2/account');

const BROKER_URL = required('BROKER_URL').replace(/\/+$/, '');
const CLIENT_ID = required('CLIENT_ID');
const CLIENT_SECRET = required('CLIENT_SECRET');
const NAMESPACE = process.env.NAMESPACE || 'gs2test';
const OIDC = {
  type: Number(required('OIDC_TYPE')),
  subA: required('OIDC_SUB_A'),
  tokenA: required('OIDC_ID_TOKEN_A'),
  subB: required('OIDC_SUB_B'),
  tokenB: required('OIDC_ID_TOKEN_B'),
  tokenUnknown: required('OIDC_ID_TOKEN_UNKNOWN'),
  tokenOtherAudience: required('OIDC_ID_TOKEN_OTHER_AUDIENCE'),
};
// The broker's default GS2 key, which always exists.
const KEY_ID = 'grn:gs2:ap-northeast-1:bridgekeeper:key:default:key:default';

// The SDK builds every URL from this template; the broker mounts the GS2
// services under /gs2/{service}.
Gs2Constant.ENDPOINT_HOST = BROKER_URL + '/gs2/{service}';

const HOUR_MS = 60 * 60 * 1000;
// How far an expiry may stray from the expected instant: the broker's and
// this process's clocks are the same clock, so this covers only latency.
const SLACK_MS = 60 * 1000;

function required(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} must be set (interop/interop_test.go sets it)`);
  }
  return v;
}

// claims decodes a JWT's payload without verifying it: the point here is
// what the broker put into the token the SDK handed back.
function claims(jwt) {
  assert.equal(typeof jwt, 'string', 'token is a string');
  const parts = jwt.split('.');
  assert.equal(parts.length, 3, `token is a compact JWS: ${jwt}`);
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

// assertExpiresInAnHour checks a GS2 expire (Unix milliseconds).
function assertExpiresInAnHour(expire, before, after) {
  assert.equal(typeof expire, 'number', `expire is a number of ms, got ${JSON.stringify(expire)}`);
  assert.ok(
    expire >= before + HOUR_MS - SLACK_MS && expire <= after + HOUR_MS + SLACK_MS,
    `expire ${expire} (${new Date(expire).toISOString()}) is not about an hour after ` +
      `${new Date(before).toISOString()}`,
  );
}

// gs2Errors asserts that what the SDK threw is GS2's parsed error: the SDK
// JSON-parses the response's message into an array of
// {component, message, code}. A non-array (e.g. a SyntaxError from a body
// that is not GS2's error shape) or [] (no response at all) fails.
function gs2Errors(thrown, service) {
  assert.ok(
    Array.isArray(thrown),
    `the SDK threw ${thrown instanceof Error ? thrown.stack : JSON.stringify(thrown)}, ` +
      'not GS2\'s parsed message array',
  );
  assert.ok(thrown.length > 0, 'the SDK threw [] (it does so when there was no HTTP response)');
  for (const e of thrown) {
    assert.equal(typeof e.component, 'string', `component of ${JSON.stringify(e)}`);
    assert.equal(typeof e.message, 'string', `message of ${JSON.stringify(e)}`);
    assert.match(
      e.message,
      new RegExp(`^${service}\\.[^.]+\\.[^.]+\\.error\\.[^.]+$`),
      `message of ${JSON.stringify(e)} is <service>.<model>.<field>.error.<reason>`,
    );
  }
  return thrown;
}

// rejects awaits p, which must reject, and returns what it threw.
async function rejects(p) {
  try {
    const value = await p;
    assert.fail(`want the SDK to throw; it returned ${JSON.stringify(value)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return e;
  }
}

const newUserId = () => crypto.randomUUID();

// The policy document of the walk's federation: everything on GS2-Account.
const POLICY_ACCOUNT_ALL = JSON.stringify({
  Version: '2016-04-01',
  Statements: [{ Effect: 'Allow', Actions: ['Gs2Account:*'], Resources: ['*'] }],
});

// assertTakeOver checks a TakeOver model the SDK parsed: its GRN, user,
// type and identifier, a createdAt in ms since the test started, a revision,
// and never a password.
function assertTakeOver(item, want, since) {
  assert.ok(item, 'the result has a TakeOver item');
  assert.equal(item.getUserId(), want.userId, 'takeOver.userId');
  assert.equal(item.getType(), want.type, 'takeOver.type');
  assert.equal(item.getUserIdentifier(), want.userIdentifier, 'takeOver.userIdentifier');
  assert.equal(
    item.getTakeOverId(),
    `grn:gs2:ap-northeast-1:bridgekeeper:account:${NAMESPACE}:takeOver:${want.type}:${want.userIdentifier}`,
    'takeOver.takeOverId',
  );
  assert.equal(item.getPassword() ?? null, null, `a TakeOver never carries its password: ${item.getPassword()}`);
  assert.equal(typeof item.getCreatedAt(), 'number', `createdAt ${JSON.stringify(item.getCreatedAt())}`);
  assert.ok(item.getCreatedAt() >= since - SLACK_MS && item.getCreatedAt() <= Date.now() + SLACK_MS,
    `createdAt ${item.getCreatedAt()} is in ms and since the test started`);
  assert.equal(typeof item.getRevision(), 'number', `revision ${JSON.stringify(item.getRevision())}`);
}

// assertPasswordInvalid checks GS2-Account's wrong-password refusal.
function assertPasswordInvalid(thrown, st) {
  const errors = gs2Errors(thrown, 'account');
  assert.ok(
    errors.some((e) => e.code === 'account.password.invalid'),
    `code account.password.invalid in ${JSON.stringify(errors)}`,
  );
  st.diagnostic(`refused with ${JSON.stringify(errors)}`);
  return errors;
}

test('GS2 TypeScript SDK against bridgekeeper', async (t) => {
  const started = Date.now();
  const session = new Gs2Core.Gs2RestSession(
    new Gs2Core.BasicGs2Credential(CLIENT_ID, CLIENT_SECRET),
    Region.AP_NORTHEAST_1,
  );
  const client = new Gs2Auth.Gs2AuthRestClient(session);
  const accounts = new Gs2Account.Gs2AccountRestClient(session);
  // alice acts as the player through federation (an operator), and logs in
  // as herself later; bob only holds a time-offset token.
  const alice = newUserId();
  const bob = newUserId();

  // The player: a GS2-Account account, signed in through GS2-Auth.
  let account; // {userId, password}: password is the latest doTakeOver gave
  let signed; // authentication's {body, signature}
  let accessToken; // loginBySignature's, for the /me/ calls
  // The player's takeover, set on the "old device".
  const takeOver = {
    type: 0,
    userIdentifier: `player+${crypto.randomUUID()}@example.com`,
    password: 'takeover-password-1',
  };
  let federatedToken;
  let playerOffsetToken;
  let bobOffsetToken;

  const authenticate = (password) =>
    accounts.authentication(
      new Gs2Account.request.AuthenticationRequest()
        .withNamespaceName(NAMESPACE)
        .withUserId(account.userId)
        .withKeyId(KEY_ID)
        .withPassword(password),
    );
  const doTakeOver = (type, userIdentifier, password) =>
    accounts.doTakeOver(
      new Gs2Account.request.DoTakeOverRequest()
        .withNamespaceName(NAMESPACE)
        .withType(type)
        .withUserIdentifier(userIdentifier)
        .withPassword(password),
    );
  const getTakeOver = (token, type) =>
    accounts.getTakeOver(
      new Gs2Account.request.GetTakeOverRequest().withNamespaceName(NAMESPACE).withAccessToken(token).withType(type),
    );
  const describeTakeOvers = (token) =>
    accounts.describeTakeOvers(
      new Gs2Account.request.DescribeTakeOversRequest().withNamespaceName(NAMESPACE).withAccessToken(token),
    );

  // ---- The walk: project login -> createAccount -> authentication ->
  // loginBySignature -> createTakeOver -> describeTakeOvers -> doTakeOver ->
  // authentication with the new password -> updateTakeOver with a wrong old
  // password -> federation -> issueTimeOffsetTokenByUserId -> login with
  // that token. Each step uses what the ones before it got.

  await t.test('project login: Gs2RestSession.connect', async () => {
    const before = Date.now();
    const result = await session.connect();
    assert.ok(result, 'connect returns the parsed login result');
    assert.equal(typeof result.accessToken, 'string');
    assert.ok(result.accessToken.length > 0, 'access_token is not empty');
    assert.equal(result.tokenType.toLowerCase(), 'bearer', `token_type ${result.tokenType}`);
    assert.equal(typeof result.expiresIn, 'number', `expires_in ${JSON.stringify(result.expiresIn)}`);
    assert.ok(result.expiresIn > 0, `expires_in ${result.expiresIn}`);
    assert.equal(session.projectToken, result.accessToken, 'the session keeps the project token');
    assert.ok(session.expiresAt >= before + result.expiresIn * 1000);
  });

  await t.test('account: createAccount', async () => {
    const before = Date.now();
    const result = await accounts.createAccount(
      new Gs2Account.request.CreateAccountRequest().withNamespaceName(NAMESPACE),
    );
    const item = result.getItem();
    assert.ok(item, 'createAccount returns an item');
    assert.match(item.getUserId() ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      `userId ${item.getUserId()} is a UUID`);
    assert.match(item.getPassword() ?? '', /^[A-Za-z0-9]{32}$/, `password ${item.getPassword()} is 32 characters`);
    assert.equal(
      item.getAccountId(),
      `grn:gs2:ap-northeast-1:bridgekeeper:account:${NAMESPACE}:account:${item.getUserId()}`,
    );
    assert.ok(item.getCreatedAt() >= before - SLACK_MS && item.getCreatedAt() <= Date.now() + SLACK_MS,
      `createdAt ${item.getCreatedAt()} is now (ms)`);
    account = { userId: item.getUserId(), password: item.getPassword() };
  });

  await t.test('account: authentication', async () => {
    assert.ok(account, 'createAccount gave an account');
    const result = await authenticate(account.password);
    assert.equal(typeof result.getBody(), 'string');
    assert.ok(result.getBody().length > 0, 'body is not empty');
    assert.equal(typeof result.getSignature(), 'string');
    assert.ok(result.getSignature().length > 0, 'signature is not empty');
    assert.equal(result.getItem().getUserId(), account.userId, 'item.userId');
    assert.equal(result.getItem().getPassword() ?? null, null, 'authentication does not return the password');
    signed = { body: result.getBody(), signature: result.getSignature() };
  });

  await t.test('auth: loginBySignature', async () => {
    assert.ok(signed, 'authentication gave a body and signature');
    const before = Date.now();
    const result = await client.loginBySignature(
      new Gs2Auth.request.LoginBySignatureRequest()
        .withKeyId(KEY_ID)
        .withBody(signed.body)
        .withSignature(signed.signature),
    );
    const after = Date.now();
    assert.ok(result.getToken(), 'token is not empty');
    assert.equal(result.getUserId(), account.userId, 'userId is the account\'s');
    assertExpiresInAnHour(result.getExpire(), before, after);
    const c = claims(result.getToken());
    assert.equal(c.userId, account.userId, `userId claim of ${JSON.stringify(c)}`);
    accessToken = result.getToken();
  });

  await t.test('account: createTakeOver (me)', async () => {
    assert.ok(accessToken, 'loginBySignature gave an access token');
    const result = await accounts.createTakeOver(
      new Gs2Account.request.CreateTakeOverRequest()
        .withNamespaceName(NAMESPACE)
        .withAccessToken(accessToken)
        .withType(takeOver.type)
        .withUserIdentifier(takeOver.userIdentifier)
        .withPassword(takeOver.password),
    );
    assertTakeOver(result.getItem(), { ...takeOver, userId: account.userId }, started);
  });

  await t.test('account: describeTakeOvers (me)', async () => {
    assert.ok(accessToken, 'loginBySignature gave an access token');
    const result = await describeTakeOvers(accessToken);
    const items = result.getItems();
    assert.ok(Array.isArray(items), 'items is a list');
    assert.equal(items.length, 1, `the player has one takeover: ${JSON.stringify(items)}`);
    assertTakeOver(items[0], { ...takeOver, userId: account.userId }, started);
    assert.equal(result.getNextPageToken() ?? null, null, 'one page only: no nextPageToken');
  });

  await t.test('account: doTakeOver', async () => {
    assert.ok(account, 'createAccount gave an account');
    const result = await doTakeOver(takeOver.type, takeOver.userIdentifier, takeOver.password);
    const item = result.getItem();
    assert.ok(item, 'doTakeOver returns the Account');
    assert.equal(item.getUserId(), account.userId, 'the takeover leads to the player\'s account');
    assert.equal(
      item.getAccountId(),
      `grn:gs2:ap-northeast-1:bridgekeeper:account:${NAMESPACE}:account:${account.userId}`,
    );
    assert.match(item.getPassword() ?? '', /^[A-Za-z0-9]{32}$/, `password ${item.getPassword()} is 32 characters`);
    assert.notEqual(item.getPassword(), account.password, 'doTakeOver gives the account a new password');
    account = { ...account, oldPassword: account.password, password: item.getPassword() };
  });

  await t.test('account: authentication with the password doTakeOver gave', async () => {
    assert.ok(account?.oldPassword, 'doTakeOver gave a new password');
    const result = await authenticate(account.password);
    assert.equal(result.getItem().getUserId(), account.userId, 'item.userId');
    assert.ok(result.getBody(), 'body is not empty');
    assert.ok(result.getSignature(), 'signature is not empty');
    // The broker keeps only the new password: the old device's stops working.
    const errors = gs2Errors(await rejects(authenticate(account.oldPassword)), 'account');
    assert.ok(errors.some((e) => e.code === 'account.password.invalid'),
      `the old password is refused with account.password.invalid: ${JSON.stringify(errors)}`);
  });

  await t.test('account: updateTakeOver (me) with a wrong old password is refused', async (st) => {
    assert.ok(accessToken, 'loginBySignature gave an access token');
    const thrown = await rejects(
      accounts.updateTakeOver(
        new Gs2Account.request.UpdateTakeOverRequest()
          .withNamespaceName(NAMESPACE)
          .withAccessToken(accessToken)
          .withType(takeOver.type)
          .withOldPassword(takeOver.password + '-wrong')
          .withPassword('takeover-password-never-set'),
      ),
    );
    assertPasswordInvalid(thrown, st);
  });

  await t.test('auth: federation with a policy document', async () => {
    assert.ok(account, 'createAccount gave an account');
    const before = Date.now();
    const result = await client.federation(
      new Gs2Auth.request.FederationRequest()
        .withOriginalUserId(alice)
        .withUserId(account.userId)
        .withPolicyDocument(POLICY_ACCOUNT_ALL)
        .withTimeOffset(7200),
    );
    const after = Date.now();
    assert.ok(result.getToken(), 'token is not empty');
    assert.equal(result.getUserId(), account.userId, 'userId is the one acted as');
    assertExpiresInAnHour(result.getExpire(), before, after);
    const c = claims(result.getToken());
    assert.equal(c.userId, account.userId, `userId claim of ${JSON.stringify(c)}`);
    assert.equal(c.federationFromUserId, alice, `federationFromUserId claim of ${JSON.stringify(c)}`);
    assert.equal(c.timeOffset, 7200, `timeOffset claim of ${JSON.stringify(c)}`);
    federatedToken = result.getToken();
  });

  await t.test('auth: issueTimeOffsetTokenByUserId', async () => {
    assert.ok(account, 'createAccount gave an account');
    const before = Date.now();
    const issue = (userId) =>
      client.issueTimeOffsetTokenByUserId(
        new Gs2Auth.request.IssueTimeOffsetTokenByUserIdRequest().withUserId(userId).withTimeOffset(3600),
      );
    const result = await issue(account.userId);
    assert.ok(result.getToken(), 'token is not empty');
    assert.equal(result.getUserId(), account.userId, 'userId is echoed');
    assert.equal(typeof result.getExpire(), 'number', `expire ${JSON.stringify(result.getExpire())}`);
    assert.ok(result.getExpire() > before, `expire ${result.getExpire()} is in the future`);
    playerOffsetToken = result.getToken();

    const other = await issue(bob);
    assert.equal(other.getUserId(), bob);
    assert.ok(other.getToken(), 'token is not empty');
    bobOffsetToken = other.getToken();
  });

  await t.test('auth: login with the time-offset token', async () => {
    assert.ok(playerOffsetToken, 'issueTimeOffsetTokenByUserId gave a token');
    const before = Date.now();
    const result = await client.login(
      new Gs2Auth.request.LoginRequest().withUserId(account.userId).withTimeOffsetToken(playerOffsetToken),
    );
    const after = Date.now();
    assert.ok(result.getToken(), 'token is not empty');
    assert.equal(result.getUserId(), account.userId, 'userId is echoed');
    assertExpiresInAnHour(result.getExpire(), before, after);
    const c = claims(result.getToken());
    assert.equal(c.timeOffset, 3600, `timeOffset claim of ${JSON.stringify(c)}`);
    assert.equal(c.userId, account.userId, `userId claim of ${JSON.stringify(c)}`);
  });

  // ---- More of the takeover surface, on the walk's player.

  const second = {
    type: 1,
    userIdentifier: `second+${crypto.randomUUID()}@example.com`,
    password: 'takeover-password-2',
  };

  await t.test('account: getTakeOver (me) by type', async () => {
    assert.ok(accessToken, 'loginBySignature gave an access token');
    const result = await getTakeOver(accessToken, takeOver.type);
    assertTakeOver(result.getItem(), { ...takeOver, userId: account.userId }, started);
  });

  await t.test('account: getTakeOver (me) of an unused type is not found', async (st) => {
    assert.ok(accessToken, 'loginBySignature gave an access token');
    const errors = gs2Errors(await rejects(getTakeOver(accessToken, 1024)), 'account');
    assert.ok(errors.some((e) => e.component === 'takeOver'), `component takeOver in ${JSON.stringify(errors)}`);
    st.diagnostic(`refused with ${JSON.stringify(errors)}`);
  });

  await t.test('account: updateTakeOver (me) with the right old password', async (st) => {
    assert.ok(accessToken, 'loginBySignature gave an access token');
    const newPassword = 'takeover-password-1b';
    const before = (await getTakeOver(accessToken, takeOver.type)).getItem().getRevision();
    const result = await accounts.updateTakeOver(
      new Gs2Account.request.UpdateTakeOverRequest()
        .withNamespaceName(NAMESPACE)
        .withAccessToken(accessToken)
        .withType(takeOver.type)
        .withOldPassword(takeOver.password)
        .withPassword(newPassword),
    );
    assertTakeOver(result.getItem(), { ...takeOver, userId: account.userId }, started);
    assert.ok(result.getItem().getRevision() > before,
      `the update moves the revision on: ${before} -> ${result.getItem().getRevision()}`);
    const oldPassword = takeOver.password;
    takeOver.password = newPassword;
    // doTakeOver now wants the new password, not the old one.
    assertPasswordInvalid(await rejects(doTakeOver(takeOver.type, takeOver.userIdentifier, oldPassword)), st);
    const done = await doTakeOver(takeOver.type, takeOver.userIdentifier, newPassword);
    assert.equal(done.getItem().getUserId(), account.userId, 'doTakeOver with the new password');
    account = { ...account, password: done.getItem().getPassword() };
  });

  await t.test('account: doTakeOver of an unknown userIdentifier is refused', async (st) => {
    assertPasswordInvalid(
      await rejects(doTakeOver(takeOver.type, `nobody+${crypto.randomUUID()}@example.com`, takeOver.password)),
      st,
    );
  });

  await t.test('account: describeTakeOversByUserId pages with limit 1', async () => {
    assert.ok(account, 'createAccount gave an account');
    const created = await accounts.createTakeOverByUserId(
      new Gs2Account.request.CreateTakeOverByUserIdRequest()
        .withNamespaceName(NAMESPACE)
        .withUserId(account.userId)
        .withType(second.type)
        .withUserIdentifier(second.userIdentifier)
        .withPassword(second.password),
    );
    assertTakeOver(created.getItem(), { ...second, userId: account.userId }, started);

    const page = (pageToken) =>
      accounts.describeTakeOversByUserId(
        new Gs2Account.request.DescribeTakeOversByUserIdRequest()
          .withNamespaceName(NAMESPACE)
          .withUserId(account.userId)
          .withPageToken(pageToken)
          .withLimit(1),
      );
    const first = await page(null);
    assert.equal(first.getItems().length, 1, `limit 1: ${JSON.stringify(first.getItems())}`);
    assertTakeOver(first.getItems()[0], { ...takeOver, userId: account.userId }, started);
    const token = first.getNextPageToken();
    assert.equal(typeof token, 'string', `a second page: nextPageToken ${JSON.stringify(token)}`);
    assert.ok(token.length > 0, 'nextPageToken is not empty');

    const next = await page(token);
    assert.equal(next.getItems().length, 1, `limit 1: ${JSON.stringify(next.getItems())}`);
    assertTakeOver(next.getItems()[0], { ...second, userId: account.userId }, started);
    assert.equal(next.getNextPageToken() ?? null, null, 'the second page is the last');
  });

  await t.test('account: deleteTakeOverByUserIdentifier', async (st) => {
    assert.ok(accessToken, 'loginBySignature gave an access token');
    const result = await accounts.deleteTakeOverByUserIdentifier(
      new Gs2Account.request.DeleteTakeOverByUserIdentifierRequest()
        .withNamespaceName(NAMESPACE)
        .withType(second.type)
        .withUserIdentifier(second.userIdentifier),
    );
    assertTakeOver(result.getItem(), { ...second, userId: account.userId }, started);

    const errors = gs2Errors(await rejects(getTakeOver(accessToken, second.type)), 'account');
    assert.ok(errors.some((e) => e.component === 'takeOver'),
      `the deleted takeover is not found (component takeOver): ${JSON.stringify(errors)}`);
    st.diagnostic(`then getTakeOver: ${JSON.stringify(errors)}`);
    const left = (await describeTakeOvers(accessToken)).getItems();
    assert.deepEqual(left.map((i) => i.getType()), [takeOver.type], 'only the first takeover is left');
    assertPasswordInvalid(await rejects(doTakeOver(second.type, second.userIdentifier, second.password)), st);
  });

  await t.test('account: a federated token acts as its userId on /me/ calls its policy allows', async () => {
    assert.ok(federatedToken, 'federation gave a token');
    const result = await getTakeOver(federatedToken, takeOver.type);
    assertTakeOver(result.getItem(), { ...takeOver, userId: account.userId }, started);
  });

  await t.test('account: a federated token is refused what its policy denies', async (st) => {
    assert.ok(account, 'createAccount gave an account');
    const fed = await client.federation(
      new Gs2Auth.request.FederationRequest()
        .withOriginalUserId(alice)
        .withUserId(account.userId)
        .withPolicyDocument(JSON.stringify({
          Version: '2016-04-01',
          Statements: [
            { Effect: 'Allow', Actions: ['Gs2Account:*'], Resources: ['*'] },
            { Effect: 'Deny', Actions: ['Gs2Account:GetTakeOver'], Resources: ['*'] },
          ],
        })),
    );
    const token = fed.getToken();
    assert.equal((await describeTakeOvers(token)).getItems().length, 1, 'describeTakeOvers is allowed');
    const errors = gs2Errors(await rejects(getTakeOver(token, takeOver.type)), 'account');
    st.diagnostic(`getTakeOver refused with ${JSON.stringify(errors)}`);
  });

  // ---- OpenID Connect takeovers: the ID token names the identity.

  const doTakeOverOpenIdConnect = (type, idToken) =>
    accounts.doTakeOverOpenIdConnect(
      new Gs2Account.request.DoTakeOverOpenIdConnectRequest()
        .withNamespaceName(NAMESPACE)
        .withType(type)
        .withIdToken(idToken),
    );
  // assertCode checks that the SDK threw GS2's error with that code.
  const assertCode = (thrown, code, st) => {
    const errors = gs2Errors(thrown, 'account');
    assert.ok(errors.some((e) => e.code === code), `code ${code} in ${JSON.stringify(errors)}`);
    st.diagnostic(`refused with ${JSON.stringify(errors)}`);
  };
  const newcomer = newUserId();

  await t.test('account: createTakeOverOpenIdConnect (me)', async () => {
    assert.ok(accessToken, 'loginBySignature gave an access token');
    const result = await accounts.createTakeOverOpenIdConnect(
      new Gs2Account.request.CreateTakeOverOpenIdConnectRequest()
        .withNamespaceName(NAMESPACE)
        .withAccessToken(accessToken)
        .withType(OIDC.type)
        .withIdToken(OIDC.tokenA),
    );
    assertTakeOver(result.getItem(), { type: OIDC.type, userIdentifier: OIDC.subA, userId: account.userId }, started);
  });

  await t.test('account: doTakeOverOpenIdConnect, then authentication and loginBySignature', async () => {
    assert.ok(account, 'createAccount gave an account');
    const result = await doTakeOverOpenIdConnect(OIDC.type, OIDC.tokenA);
    const item = result.getItem();
    assert.ok(item, 'doTakeOverOpenIdConnect returns the Account');
    assert.equal(item.getUserId(), account.userId, 'the ID token leads to the player\'s account');
    assert.equal(
      item.getAccountId(),
      `grn:gs2:ap-northeast-1:bridgekeeper:account:${NAMESPACE}:account:${account.userId}`,
    );
    assert.match(item.getPassword() ?? '', /^[A-Za-z0-9]{32}$/, `password ${item.getPassword()} is 32 characters`);
    assert.notEqual(item.getPassword(), account.password, 'the account gets a new password');
    account = { ...account, password: item.getPassword() };
    // The new device signs in as GS2's SDKs do after a takeover.
    const auth = await authenticate(account.password);
    const login = await client.loginBySignature(
      new Gs2Auth.request.LoginBySignatureRequest()
        .withKeyId(KEY_ID)
        .withBody(auth.getBody())
        .withSignature(auth.getSignature()),
    );
    assert.equal(login.getUserId(), account.userId, 'loginBySignature signs the player in');
    assert.equal(claims(login.getToken()).userId, account.userId, 'userId claim');
  });

  await t.test('account: createTakeOverOpenIdConnectAndByUserId, then doTakeOverOpenIdConnect', async () => {
    // A player GS2-Auth's login made, without an account so far.
    await client.login(new Gs2Auth.request.LoginRequest().withUserId(newcomer));
    const result = await accounts.createTakeOverOpenIdConnectAndByUserId(
      new Gs2Account.request.CreateTakeOverOpenIdConnectAndByUserIdRequest()
        .withNamespaceName(NAMESPACE)
        .withUserId(newcomer)
        .withType(OIDC.type)
        .withIdToken(OIDC.tokenB),
    );
    assertTakeOver(result.getItem(), { type: OIDC.type, userIdentifier: OIDC.subB, userId: newcomer }, started);
    const done = await doTakeOverOpenIdConnect(OIDC.type, OIDC.tokenB);
    assert.equal(done.getItem().getUserId(), newcomer, 'the ID token leads to the newcomer');
    assert.match(done.getItem().getPassword() ?? '', /^[A-Za-z0-9]{32}$/, 'the newcomer gets an account password');
  });

  await t.test('account: createTakeOverOpenIdConnectAndByUserId of another player\'s identity is refused', async (st) => {
    assert.ok(account, 'createAccount gave an account');
    const thrown = await rejects(
      accounts.createTakeOverOpenIdConnectAndByUserId(
        new Gs2Account.request.CreateTakeOverOpenIdConnectAndByUserIdRequest()
          .withNamespaceName(NAMESPACE)
          .withUserId(account.userId)
          .withType(OIDC.type)
          .withIdToken(OIDC.tokenB),
      ),
    );
    assertCode(thrown, 'takeOver.userIdentifier.duplicate', st);
  });

  await t.test('account: doTakeOverOpenIdConnect refusals', async (st) => {
    await st.test('an identity nobody linked', async (sst) => {
      assertCode(await rejects(doTakeOverOpenIdConnect(OIDC.type, OIDC.tokenUnknown)), 'takeOver.userIdentifier.notFound', sst);
    });
    await st.test('an ID token for another game', async (sst) => {
      assertCode(await rejects(doTakeOverOpenIdConnect(OIDC.type, OIDC.tokenOtherAudience)), 'takeOver.idToken.invalid', sst);
    });
    await st.test('a type without an ID-token provider', async (sst) => {
      assertCode(await rejects(doTakeOverOpenIdConnect(takeOver.type, OIDC.tokenA)), 'takeOver.type.noProvider', sst);
    });
  });

  await t.test('auth: federation with an invalid policy document is refused', async (st) => {
    assert.ok(account, 'createAccount gave an account');
    const thrown = await rejects(
      client.federation(
        new Gs2Auth.request.FederationRequest()
          .withOriginalUserId(alice)
          .withUserId(account.userId)
          .withPolicyDocument('{"Version":"2016-04-01","Statements":[{"Effect":"Maybe"}]}'),
      ),
    );
    const errors = gs2Errors(thrown, 'auth');
    assert.ok(errors.some((e) => /policyDocument/.test(e.message)),
      `the refusal names policyDocument: ${JSON.stringify(errors)}`);
    st.diagnostic(`refused with ${JSON.stringify(errors)}`);
  });

  // ---- GS2-Auth's login and the refusals.

  await t.test('auth: login', async () => {
    const before = Date.now();
    const result = await client.login(new Gs2Auth.request.LoginRequest().withUserId(alice));
    const after = Date.now();
    assert.ok(result.getToken(), 'token is not empty');
    assert.equal(result.getUserId(), alice, 'userId is echoed');
    assertExpiresInAnHour(result.getExpire(), before, after);
    const c = claims(result.getToken());
    assert.equal(c.userId, alice, `userId claim of ${JSON.stringify(c)}`);
    assert.equal(c.timeOffset ?? 0, 0, `timeOffset claim of ${JSON.stringify(c)}`);
    assert.equal(c.federationFromUserId ?? null, null, `a login is not federated: ${JSON.stringify(c)}`);
  });

  await t.test("login with another user's time-offset token is refused", async (st) => {
    assert.ok(bobOffsetToken, 'issueTimeOffsetTokenByUserId gave a token');
    const thrown = await rejects(
      client.login(new Gs2Auth.request.LoginRequest().withUserId(alice).withTimeOffsetToken(bobOffsetToken)),
    );
    const errors = gs2Errors(thrown, 'auth');
    assert.ok(
      errors.some((e) => /timeOffset|userId/i.test(e.message)),
      `the refusal names the time-offset token or the user: ${JSON.stringify(errors)}`,
    );
    st.diagnostic(`refused with ${JSON.stringify(errors)}`);
  });

  await t.test('login without a project token is refused', async (st) => {
    // A session that never connected sends "Authorization: Bearer null".
    const anonymous = new Gs2Auth.Gs2AuthRestClient(
      new Gs2Core.Gs2RestSession(new Gs2Core.BasicGs2Credential(CLIENT_ID, CLIENT_SECRET), Region.AP_NORTHEAST_1),
    );
    const thrown = await rejects(anonymous.login(new Gs2Auth.request.LoginRequest().withUserId(alice)));
    st.diagnostic(`refused with ${JSON.stringify(gs2Errors(thrown, 'auth'))}`);
  });

  await t.test('project login with a wrong secret is refused', async (st) => {
    const wrong = new Gs2Core.Gs2RestSession(
      new Gs2Core.BasicGs2Credential(CLIENT_ID, CLIENT_SECRET + 'x'),
      Region.AP_NORTHEAST_1,
    );
    const thrown = await rejects(wrong.connect());
    st.diagnostic(`refused with ${JSON.stringify(gs2Errors(thrown, 'identifier'))}`);
    assert.equal(wrong.projectToken, null, 'no project token was kept');
  });

  await t.test('getServiceVersion (not in the SDK: its request, sent by hand)', async (st) => {
    // gs2 1.4.21's Gs2AuthRestClient has no getServiceVersion, so this sends
    // what the other SDKs send: a GET with the client's authorized headers
    // to the SDK's endpoint template.
    const url = Gs2Constant.ENDPOINT_HOST.replace('{service}', 'auth').replace('{region}', session.region) +
      '/system/version';
    const headers = { ...client.createAuthorizedHeaders(), 'Content-Type': 'application/json' };
    const res = await fetch(url, { headers });
    const text = await res.text();
    assert.equal(res.status, 200, `GET ${url}: ${res.status} ${text}`);
    const data = JSON.parse(text);
    assert.ok(data.item !== undefined && data.item !== null, `item in ${text}`);
    assert.ok(data.status !== undefined && data.status !== null, `status in ${text}`);
    st.diagnostic(`service version ${text.trim()}`);
  });

  await t.test('account: authentication with a wrong password is refused', async (st) => {
    assert.ok(account, 'createAccount gave an account');
    const wrong = (account.password[0] === 'A' ? 'B' : 'A') + account.password.slice(1);
    assertPasswordInvalid(await rejects(authenticate(wrong)), st);
  });

  await t.test('auth: loginBySignature with a tampered signature is refused', async (st) => {
    assert.ok(signed, 'authentication gave a body and signature');
    const sig = (signed.signature[0] === 'A' ? 'B' : 'A') + signed.signature.slice(1);
    const thrown = await rejects(
      client.loginBySignature(
        new Gs2Auth.request.LoginBySignatureRequest().withKeyId(KEY_ID).withBody(signed.body).withSignature(sig),
      ),
    );
    st.diagnostic(`refused with ${JSON.stringify(gs2Errors(thrown, 'auth'))}`);
  });
});
