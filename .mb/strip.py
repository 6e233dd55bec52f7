import re
files=['src/doors/bayeux/client.ts','src/doors/bayeux/registry.ts','src/doors/bayeux/relay.ts','src/doors/bayeux/transport.ts','test/chaos/bot-watcher.ts','test/chaos/cluster.ts']
for p in files:
    s=open(p).read()
    s=re.sub(r"import \{ trace(, seqs)? \} from '[./]*(src/doors/bayeux/)?trace-tmp\.ts';\n","",s)
    s=s.replace("""    if (now - this.lastLook > STALL_CHECK_MS + STALL_MS && this.clients.size > 0) {
      trace(`${this.home.slice(0, 6)} stall ${Math.round(now - this.lastLook)} reconciling=${this.reconciling !== null}`);
      this.reconcile();
    }""","""    if (now - this.lastLook > STALL_CHECK_MS + STALL_MS && this.clients.size > 0) this.reconcile();""")
    s=s.replace("""  get queuedCount(): number {
    return this.queue.length;
  }

""","")
    s=s.replace("""    const given = last !== null && messageId === last.messageId && last.giveBack();
    if (last !== null) trace(`resent ${this.id.slice(0, 6)} ${String(messageId)} last=${last.messageId} given=${given}`);
    return given;""","""    return last !== null && messageId === last.messageId && last.giveBack();""")
    s=s.replace("""    if (!this.ack && this.node === 'balancer') {
      if (message.channel === '/meta/connect') trace(`bot in ${String(message.id)} ok=${String(message.successful)} ${message.successful === true ? '' : JSON.stringify(message)}`);
      else if (message.channel === STREAM) trace(`bot ev ${String(seqOf((message.data as { contentData?: string } | null)?.contentData))}`);
      else trace(`bot msg ${String(message.channel)} ${JSON.stringify(message).slice(0, 200)}`);
    }
""","")
    lines=s.split('\n')
    out=[l for l in lines if not re.match(r"\s*(if \(.*\) )?trace\(`", l)]
    s='\n'.join(out)
    open(p,'w').write(s)
