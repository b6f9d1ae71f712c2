/**
 * Who may sign in, and the API tokens scripts use: adding and removing users,
 * making and revoking tokens. For admins only; the API does not even list them
 * to viewers, so a viewer who comes here is told why there is nothing.
 */
import { useState, type FormEvent } from 'react';
import { Trans, useTranslation } from 'react-i18next';
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
  const { t } = useTranslation();
  const { canEdit } = useSession();
  if (!canEdit) {
    return (
      <>
        <PageHeading title={t('users.title')} />
        <p className="notice">
          {t('users.viewer')} <Link to="/jobs">{t('common.backToJobs')}</Link>
        </p>
      </>
    );
  }
  return <Accounts />;
}

function Accounts() {
  const { t } = useTranslation();
  const users = useResource('users', (api) => api.users());
  const tokens = useResource('tokens', (api) => api.tokens());
  const [confirmation, setConfirmation] = useState<Confirmation>();
  return (
    <>
      <PageHeading title={t('users.title')} />
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
  const { t } = useTranslation();
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
    if (!values.userName.trim()) found.userName = t('users.enterName');
    if (values.password.length < MIN_PASSWORD_LENGTH) found.password = t('users.passwordLength', { count: MIN_PASSWORD_LENGTH });
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
      setErrors(refusedFields(t, err, USER_FIELDS));
    } finally {
      setBusy(false);
    }
  };

  const remove = (name: string) =>
    ask({
      title: t('users.removeTitle', { name }),
      message: <p>{t('users.removeText', { name })}</p>,
      confirmLabel: t('users.remove'),
      run: async () => {
        await api.removeUser(name);
        users.setData((list) => list?.filter((u) => u.name !== name));
        onRemoved();
      },
    });

  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">{t('users.title')}</h2>
      <ErrorNote error={users.error} what={t('users.what')} />
      {users.data && users.data.length === 0 && <p className="empty">{t('users.empty')}</p>}
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
              label: t('users.name'),
              rowHeader: true,
              render: (u) => (
                <>
                  {u.name}
                  {u.name === session.user && <span className="muted small"> {t('users.you')}</span>}
                </>
              ),
            },
            { key: 'role', label: t('users.role'), render: (u) => <span className={`role role-${u.role}`} data-role={u.role}>{t(`roles.${u.role}`)}</span> },
            { key: 'added', label: t('users.added'), render: (u) => formatTime(u.createdAt) },
            {
              key: 'actions',
              label: t('common.actions'),
              hideLabel: true,
              // Removing oneself would end this very session: another admin does that.
              render: (u) =>
                u.name !== session.user && (
                  <button type="button" className="button small" aria-label={t('users.removeName', { name: u.name })} onClick={() => remove(u.name)}>
                    {t('users.remove')}
                  </button>
                ),
            },
          ]}
        />
      )}
      <form className="panel-form" onSubmit={submit} noValidate aria-labelledby="add-user-title">
        <fieldset>
          <legend id="add-user-title">{t('users.add')}</legend>
          <div className="grid settings">
            <Field name="userName" label={t('signIn.userName')} hint={t('users.nameHint')} error={errors.userName}>
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
            <Field name="password" label={t('signIn.password')} hint={t('users.passwordLength', { count: MIN_PASSWORD_LENGTH })} error={errors.password}>
              {(control) => (
                <input {...control} type="password" autoComplete="new-password" value={values.password} onChange={(e) => set({ password: e.target.value }, 'password')} />
              )}
            </Field>
            <Field name="role" label={t('users.role')} error={errors.role}>
              {(control) => (
                <select {...control} value={values.role} onChange={(e) => set({ role: e.target.value as Role }, 'role')}>
                  <option value="viewer">{t('users.roleViewer')}</option>
                  <option value="admin">{t('users.roleAdmin')}</option>
                </select>
              )}
            </Field>
          </div>
          <FormActions error={errors.form} busy={busy} label={t('users.submit')} busyLabel={t('users.busy')} />
        </fieldset>
      </form>
    </section>
  );
}

function Tokens({ tokens, ask }: { tokens: Resource<TokenView[]>; ask: Ask }) {
  const { t } = useTranslation();
  const { api, session } = useSession();
  const [label, setLabel] = useState('');
  const [errors, setErrors] = useState<FormErrors>({});
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<WithSecret<TokenView>>();

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (!label.trim()) {
      setErrors({ tokenLabel: t('tokens.enterLabel') });
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
      setErrors(refusedFields(t, err, { label: 'tokenLabel' }));
    } finally {
      setBusy(false);
    }
  };

  const revoke = (token: TokenView) =>
    ask({
      title: t('tokens.revokeTitle', { label: token.label }),
      message: <p>{t('tokens.revokeText')}</p>,
      confirmLabel: t('tokens.revoke'),
      run: async () => {
        await api.revokeToken(token.id);
        tokens.setData((list) => list?.filter((t) => t.id !== token.id));
      },
    });

  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">{t('tokens.title')}</h2>
      <p className="hint">
        <Trans i18nKey="tokens.hint" components={{ header: <code /> }} values={{ header: 'Authorization: Bearer TOKEN' }} />
      </p>
      <ErrorNote error={tokens.error} what={t('tokens.what')} />
      {created && (
        <OneTimeSecret
          title={t('tokens.newTitle', { label: created.label })}
          secret={created.token}
          secretLabel={t('secret.token')}
          testId="api-token"
          onDone={() => setCreated(undefined)}
        />
      )}
      {tokens.data && tokens.data.length === 0 && <p className="empty">{t('tokens.empty')}</p>}
      {tokens.data && (
        <Table
          rows={tokens.data}
          rowKey={(token) => token.id}
          rowData={(token) => ({ token: token.id })}
          labelledBy="tokens-title"
          testId="tokens-table"
          columns={[
            { key: 'label', label: t('tokens.label'), rowHeader: true, render: (token) => token.label },
            { key: 'user', label: t('tokens.user'), render: (token) => token.user },
            { key: 'made', label: t('tokens.made'), render: (token) => formatTime(token.createdAt) },
            {
              key: 'actions',
              label: t('common.actions'),
              hideLabel: true,
              render: (token) => (
                <button type="button" className="button small" aria-label={t('tokens.revokeName', { label: token.label })} onClick={() => revoke(token)}>
                  {t('tokens.revoke')}
                </button>
              ),
            },
          ]}
        />
      )}
      {session.user === null ? (
        <p className="notice">{t('tokens.configured')}</p>
      ) : (
        <form className="panel-form" onSubmit={submit} noValidate aria-labelledby="new-token-title">
          <fieldset>
            <legend id="new-token-title">{t('tokens.make')}</legend>
            <Field name="tokenLabel" label={t('tokens.label')} hint={t('tokens.labelHint', { user: session.user })} error={errors.tokenLabel}>
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
            <FormActions error={errors.form} busy={busy} label={t('tokens.submit')} busyLabel={t('tokens.busy')} />
          </fieldset>
        </form>
      )}
    </section>
  );
}
