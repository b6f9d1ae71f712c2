/**
 * Who may sign in, and the API tokens scripts use: adding and removing users,
 * making and revoking tokens. For admins only; the API does not even list them
 * to viewers, so a viewer who comes here is told why there is nothing.
 */
import { useState, type FormEvent } from 'react';
import type { WithSecret } from '../api';
import { ConfirmDialog, type Confirmation } from '../components/ConfirmDialog';
import { ErrorNote } from '../components/ErrorNote';
import { Field } from '../components/Field';
import { OneTimeSecret } from '../components/OneTimeSecret';
import { PageHeading } from '../components/PageHeading';
import { Table } from '../components/Table';
import { formatTime } from '../format';
import { refusedFields, without, type FormErrors } from '../forms';
import { useResource, type Resource } from '../resource';
import { Link } from '../router';
import { useSession } from '../session';
import type { Role, TokenView, UserView } from '../types';
import { FormActions } from '../components/FormActions';

/** The coordinator's minimum (admin/passwords.ts), checked here to say so before sending; it checks again. */
const MIN_PASSWORD_LENGTH = 12;

type Ask = (confirmation: Confirmation) => void;

export function UsersPage() {
  const { canEdit } = useSession();
  if (!canEdit) {
    return (
      <>
        <PageHeading title="Users" />
        <p className="notice">
          You are signed in as a viewer: only admins manage users and API tokens. <Link to="/jobs">Back to the jobs</Link>.
        </p>
      </>
    );
  }
  return <Accounts />;
}

function Accounts() {
  const users = useResource('users', (api) => api.users());
  const tokens = useResource('tokens', (api) => api.tokens());
  const [confirmation, setConfirmation] = useState<Confirmation>();
  return (
    <>
      <PageHeading title="Users" />
      {/* A removed user's tokens go with them: the token list is loaded again. */}
      <Users users={users} onRemoved={tokens.reload} ask={setConfirmation} />
      <Tokens tokens={tokens} ask={setConfirmation} />
      {confirmation && <ConfirmDialog confirmation={confirmation} onClose={() => setConfirmation(undefined)} />}
    </>
  );
}

const EMPTY_USER = { userName: '', password: '', role: 'viewer' as Role };
const USER_FIELDS = { name: 'userName', password: 'password', role: 'role' };

function Users({ users, onRemoved, ask }: { users: Resource<UserView[]>; onRemoved: () => void; ask: Ask }) {
  const { api, session } = useSession();
  const [values, setValues] = useState(EMPTY_USER);
  const [errors, setErrors] = useState<FormErrors>({});
  const [busy, setBusy] = useState(false);

  const set = (change: Partial<typeof EMPTY_USER>, field: string) => {
    setValues((v) => ({ ...v, ...change }));
    setErrors((e) => without(e, field));
  };

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const found: FormErrors = {};
    if (!values.userName.trim()) found.userName = 'Enter a user name.';
    if (values.password.length < MIN_PASSWORD_LENGTH) found.password = `At least ${MIN_PASSWORD_LENGTH} characters.`;
    if (Object.keys(found).length) {
      setErrors(found);
      form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
      return;
    }
    setBusy(true);
    try {
      const user = await api.addUser(values.userName.trim(), values.password, values.role);
      users.setData((list) => [...(list ?? []), user]);
      setValues(EMPTY_USER);
      setErrors({});
    } catch (err) {
      setErrors(refusedFields(err, USER_FIELDS));
    } finally {
      setBusy(false);
    }
  };

  const remove = (name: string) =>
    ask({
      title: `Remove ${name}?`,
      message: <p>{name} can no longer sign in; their sessions and API tokens stop working at once.</p>,
      confirmLabel: 'Remove',
      run: async () => {
        await api.removeUser(name);
        users.setData((list) => list?.filter((u) => u.name !== name));
        onRemoved();
      },
    });

  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <ErrorNote error={users.error} what="the users" />
      {users.data && users.data.length === 0 && <p className="empty">No user yet: add the first below.</p>}
      {users.data && (
        <Table
          rows={users.data}
          rowKey={(u) => u.name}
          rowData={(u) => ({ user: u.name })}
          labelledBy="users-title"
          testId="users-table"
          columns={[
            {
              key: 'name',
              label: 'Name',
              rowHeader: true,
              render: (u) => (
                <>
                  {u.name}
                  {u.name === session.user && <span className="muted small"> (you)</span>}
                </>
              ),
            },
            { key: 'role', label: 'Role', render: (u) => <span className={`role role-${u.role}`}>{u.role}</span> },
            { key: 'added', label: 'Added', render: (u) => formatTime(u.createdAt) },
            {
              key: 'actions',
              label: 'Actions',
              hideLabel: true,
              // Removing oneself would end this very session: another admin does that.
              render: (u) =>
                u.name !== session.user && (
                  <button type="button" className="button small" aria-label={`Remove ${u.name}`} onClick={() => remove(u.name)}>
                    Remove
                  </button>
                ),
            },
          ]}
        />
      )}
      <form className="panel-form" onSubmit={submit} noValidate aria-labelledby="add-user-title">
        <fieldset>
          <legend id="add-user-title">Add a user</legend>
          <div className="grid settings">
            <Field name="userName" label="User name" hint="Letters, digits, dot, dash, underscore and @." error={errors.userName}>
              {(control) => (
                <input
                  {...control}
                  type="text"
                  autoComplete="off"
                  autoCapitalize="none"
                  spellCheck={false}
                  value={values.userName}
                  onChange={(e) => set({ userName: e.target.value }, 'userName')}
                />
              )}
            </Field>
            <Field name="password" label="Password" hint={`At least ${MIN_PASSWORD_LENGTH} characters.`} error={errors.password}>
              {(control) => (
                <input {...control} type="password" autoComplete="new-password" value={values.password} onChange={(e) => set({ password: e.target.value }, 'password')} />
              )}
            </Field>
            <Field name="role" label="Role" error={errors.role}>
              {(control) => (
                <select {...control} value={values.role} onChange={(e) => set({ role: e.target.value as Role }, 'role')}>
                  <option value="viewer">viewer: reads only</option>
                  <option value="admin">admin: changes everything</option>
                </select>
              )}
            </Field>
          </div>
          <FormActions error={errors.form} busy={busy} label="Add the user" busyLabel="Adding…" />
        </fieldset>
      </form>
    </section>
  );
}

function Tokens({ tokens, ask }: { tokens: Resource<TokenView[]>; ask: Ask }) {
  const { api, session } = useSession();
  const [label, setLabel] = useState('');
  const [errors, setErrors] = useState<FormErrors>({});
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<WithSecret<TokenView>>();

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (!label.trim()) {
      setErrors({ tokenLabel: 'Say what the token is for.' });
      form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
      return;
    }
    setBusy(true);
    try {
      const token = await api.createToken(label.trim());
      const { token: _secret, ...view } = token;
      tokens.setData((list) => [...(list ?? []), view]);
      setCreated(token);
      setLabel('');
      setErrors({});
    } catch (err) {
      setErrors(refusedFields(err, { label: 'tokenLabel' }));
    } finally {
      setBusy(false);
    }
  };

  const revoke = (token: TokenView) =>
    ask({
      title: `Revoke the token “${token.label}”?`,
      message: <p>Scripts that use it are refused from now on.</p>,
      confirmLabel: 'Revoke',
      run: async () => {
        await api.revokeToken(token.id);
        tokens.setData((list) => list?.filter((t) => t.id !== token.id));
      },
    });

  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">API tokens</h2>
      <p className="hint">
        For scripts: a token acts as the user who made it, with that user's role, until it is revoked. Send it as{' '}
        <code>Authorization: Bearer TOKEN</code>.
      </p>
      <ErrorNote error={tokens.error} what="the API tokens" />
      {created && (
        <OneTimeSecret title={`API token “${created.label}”`} secret={created.token} secretLabel="Token" testId="api-token" onDone={() => setCreated(undefined)} />
      )}
      {tokens.data && tokens.data.length === 0 && <p className="empty">No API token yet.</p>}
      {tokens.data && (
        <Table
          rows={tokens.data}
          rowKey={(t) => t.id}
          rowData={(t) => ({ token: t.id })}
          labelledBy="tokens-title"
          testId="tokens-table"
          columns={[
            { key: 'label', label: 'Label', rowHeader: true, render: (t) => t.label },
            { key: 'user', label: 'User', render: (t) => t.user },
            { key: 'made', label: 'Made', render: (t) => formatTime(t.createdAt) },
            {
              key: 'actions',
              label: 'Actions',
              hideLabel: true,
              render: (t) => (
                <button type="button" className="button small" aria-label={`Revoke the token ${t.label}`} onClick={() => revoke(t)}>
                  Revoke
                </button>
              ),
            },
          ]}
        />
      )}
      {session.user === null ? (
        <p className="notice">A token the coordinator was configured with cannot make API tokens: sign in as a user to make one.</p>
      ) : (
        <form className="panel-form" onSubmit={submit} noValidate aria-labelledby="new-token-title">
          <fieldset>
            <legend id="new-token-title">Make an API token</legend>
            <Field name="tokenLabel" label="Label" hint={`What it is for, e.g. “nightly export”. It acts as ${session.user}.`} error={errors.tokenLabel}>
              {(control) => (
                <input
                  {...control}
                  type="text"
                  maxLength={200}
                  value={label}
                  onChange={(e) => {
                    setLabel(e.target.value);
                    setErrors({});
                  }}
                />
              )}
            </Field>
            <FormActions error={errors.form} busy={busy} label="Make the token" busyLabel="Making…" />
          </fieldset>
        </form>
      )}
    </section>
  );
}
