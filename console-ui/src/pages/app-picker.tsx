import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';

/** The configured apps, fetched once per page. */
export function useApps(): { id: string; enabled: boolean }[] | null {
  const [apps, setApps] = useState<{ id: string; enabled: boolean }[] | null>(null);
  useEffect(() => {
    api.get<{ id: string; enabled: boolean }[]>('apps').then(setApps, () => setApps([]));
  }, []);
  return apps;
}

/** A select that changes the route's app (shown only when there is more than one). */
export function AppPicker(props: { apps: { id: string }[]; value: string; onChange: (app: string) => void }) {
  if (props.apps.length < 2) return null;
  return (
    <div class="field inline">
      <label for="app-picker">App</label>
      <select id="app-picker" value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        {props.apps.map((app) => (
          <option key={app.id} value={app.id}>
            {app.id}
          </option>
        ))}
      </select>
    </div>
  );
}
