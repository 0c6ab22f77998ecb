# Loaded into the real Kamal by test/kamal.spec.ts (RUBYOPT=-r<this file>): when `kamal config`
# exits, prints what Kamal itself resolved from the rendered set, as one JSON line marked
# KAMAL-PROBE: per role its hosts, command, clear env and whether each secret has a value, and the
# same for accessories. Secret values are never printed.
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
  puts "KAMAL-PROBE " + JSON.generate({
    "version" => config.version, "volumes" => config.volume_args, "roles" => roles, "accessories" => accessories,
    "registry_password" => config.registry.password.to_s.empty? ? "empty" : "set",
    "hooks_path" => config.hooks_path, "secrets_files" => config.secrets.secrets_files
  })
end
