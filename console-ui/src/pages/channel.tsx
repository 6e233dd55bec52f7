import { useState } from 'preact/hooks';
import { useStream } from '../api.ts';
import { Empty, ErrorNote, LiveIndicator, Stat } from '../components.tsx';
import { href } from '../router.ts';
import { History, PublishForm, PurgeForm } from './channel-actions.tsx';
import { LiveTail, type TailBatch } from './tail.tsx';

interface ChannelInfo {
  name: string;
  type: string;
  occupied: boolean;
  subscriptions: number;
  users: number | null;
  members: { userId: string; userInfo: unknown }[];
  error?: { code: string; message: string };
}

export function ChannelPage(props: { app: string; channel: string; admin: boolean }) {
  const { app, channel } = props;
  const [info, setInfo] = useState<ChannelInfo | null>(null);
  const [batches, setBatches] = useState<TailBatch[]>([]);
  const state = useStream(`apps/${encodeURIComponent(app)}/channel/stream?name=${encodeURIComponent(channel)}`, {
    info: setInfo,
    tail: (batch: TailBatch) => setBatches((list) => [...list.slice(-50), batch]),
  });

  return (
    <>
      <p class="crumbs">
        <a href={href({ page: 'channels', app })}>Channels of {app}</a>
      </p>
      <div class="page-head">
        <h1 class="channel-name">{channel}</h1>
        <LiveIndicator state={state} />
      </div>
      {info?.error !== undefined && <ErrorNote error={new Error(`${info.error.code}: ${info.error.message}`)} />}
      {info !== null && info.error === undefined && (
        <section class="card" aria-labelledby="state-h">
          <h2 id="state-h">State</h2>
          <dl class="stats">
            <Stat label="Type" value={info.type} />
            <Stat label="Occupied" value={info.occupied ? 'yes' : 'no'} />
            <Stat label="Subscriptions" value={info.subscriptions} />
            {info.users !== null && <Stat label="Users" value={info.users} />}
          </dl>
          {info.type.startsWith('presence') && <Members members={info.members} />}
        </section>
      )}
      <LiveTail batches={batches} />
      {props.admin && <PublishForm app={app} channel={channel} />}
      <History app={app} channel={channel} />
      {props.admin && <PurgeForm app={app} channel={channel} />}
    </>
  );
}

function Members(props: { members: ChannelInfo['members'] }) {
  return (
    <>
      <h3>Presence members</h3>
      {props.members.length === 0 ? (
        <Empty title="Nobody is present.">Members appear here when a client subscribes to this presence channel with its user data.</Empty>
      ) : (
        <ul class="members" aria-label="Presence members">
          {props.members.map((member) => (
            <li key={member.userId}>
              <strong>{member.userId}</strong>
              {member.userInfo !== null && member.userInfo !== undefined && <code class="member-info">{JSON.stringify(member.userInfo)}</code>}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
