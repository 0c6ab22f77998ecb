# Loaded into the real Kamal by test/kamal.spec.ts (RUBYOPT=-r<this file>): when `kamal config`
# exits, prints what Kamal itself resolved from the rendered set, as one JSON line marked
# KAMAL-PROBE: per role its hosts, command, clear env and whether each secret has a value, the
# same for accessories, and kamal-proxy's image and commands. Secret values are never printed.
at_exit do
  next unless defined?(KAMAL) && KAMAL.instance_variable_get(:@config)

  require "json"
  config = KAMAL.config
  secret_state = ->(keys) { keys.to_h { |key| [ key, config.secrets[key].to_s.empty? ? "empty" : "set" ] } }
  roles = config.roles.to_h do |role|
    env = role.env(role.hosts.first)
    proxy = role.running_proxy? ? { "hosts" => role.proxy.hosts, "ssl" => role.proxy.ssl?, "app_port" => role.proxy.app_port } : nil
    [ role.name, { "hosts" => role.hosts, "cmd" => role.cmd, "env" => env.clear, "secrets" => secret_state.(env.secret_keys), "proxy" => proxy } ]
  end
  accessories = config.accessories.to_h do |accessory|
    env = accessory.env
    [ accessory.name, { "hosts" => accessory.hosts, "image" => accessory.image, "cmd" => accessory.cmd,
      "volumes" => accessory.volume_args, "options" => accessory.option_args, "files" => accessory.files.keys.map(&:to_s),
      "env" => env.clear, "secrets" => secret_state.(env.secret_keys) } ]
  end
  # kamal-proxy on the first proxy host, as `kamal proxy boot` would run it and read its version back.
  proxy_host = config.proxy_hosts.first
  proxy = proxy_host && {
    "image" => config.proxy_run(proxy_host)&.image,
    "run" => KAMAL.proxy(proxy_host).run.flatten.join(" "),
    "version" => KAMAL.proxy(proxy_host).version.flatten.join(" "),
    "minimum_version" => Kamal::Configuration::Proxy::Run::MINIMUM_VERSION
  }
  puts "KAMAL-PROBE " + JSON.generate({
    "version" => config.version, "volumes" => config.volume_args, "roles" => roles, "accessories" => accessories,
    "registry_password" => config.registry.password.to_s.empty? ? "empty" : "set", "deploy_timeout" => config.deploy_timeout,
    "hooks_path" => config.hooks_path, "secrets_files" => config.secrets.secrets_files, "proxy" => proxy
  })
end
