import { useState } from 'preact/hooks';
import { api, ApiError, type Session } from '../api.ts';

export function LoginPage(props: { onLogin: (session: Session) => void; ended: boolean }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      props.onLogin(await api.post<Session>('login', { name, password }));
    } catch (thrown) {
      if (thrown instanceof ApiError && thrown.status === 429) setError(`Too many attempts. ${thrown.message}.`);
      else if (thrown instanceof ApiError && thrown.status === 401) setError('Wrong name or password.');
      else setError(thrown instanceof Error ? thrown.message : String(thrown));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="login">
      <h1>roomcast console</h1>
      {props.ended && <p class="notice">Your session ended. Log in again to continue.</p>}
      <form onSubmit={submit} class="card login-form">
        <label for="login-name">Name</label>
        <input id="login-name" name="name" autocomplete="username" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <label for="login-password">Password or token</label>
        <input
          id="login-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        <p class="form-error" role="alert">
          {error}
        </p>
      </form>
      <p class="muted small">Console users are set in the server config (<code>console.users</code>); see docs/operations.md.</p>
    </main>
  );
}
