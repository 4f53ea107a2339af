-- Stand-ins for the Amazon RDS / Aurora MySQL `mysql.rds_*` procedures on MariaDB, so the
-- native replication engine runs the same SQL on a sandbox server as on Aurora.
-- Signatures follow the Aurora MySQL documentation; bodies wrap CHANGE MASTER TO / START SLAVE /
-- STOP SLAVE / RESET SLAVE ALL.
--
-- CHANGE MASTER TO takes literals only, so the procedure builds the statement with CONCAT and
-- QUOTE() and runs it with PREPARE / EXECUTE (MariaDB 10.11 allows CHANGE MASTER as a prepared
-- statement). MASTER_USE_GTID = no keeps MariaDB on file/position coordinates, as Aurora is.
--
-- No DELIMITER lines: send the whole text as one multi-statement query (the server's parser
-- understands BEGIN ... END). With the `mariadb` command-line client, use
-- `aurora_sql::RDS_STAND_INS` through the library, or add DELIMITER lines yourself.
-- Run it with sql_log_bin = 0 so the procedures never replicate.

CREATE TABLE IF NOT EXISTS mysql.rds_configuration (
  name VARCHAR(100) NOT NULL PRIMARY KEY,
  value VARCHAR(100) NULL,
  description VARCHAR(300) NOT NULL
) ENGINE = Aria;

INSERT IGNORE INTO mysql.rds_configuration (name, value, description) VALUES
  ('binlog retention hours', NULL,
   'binlog retention hours specifies the duration in hours before binary logs are automatically deleted.');

DROP PROCEDURE IF EXISTS mysql.rds_set_external_master;

CREATE PROCEDURE mysql.rds_set_external_master(
  host_name VARCHAR(255), host_port INT, replication_user_name VARCHAR(255),
  replication_user_password VARCHAR(255), mysql_binary_log_file_name VARCHAR(255),
  mysql_binary_log_file_location BIGINT UNSIGNED, ssl_encryption TINYINT)
BEGIN
  SET @rds_change_master = CONCAT(
    'CHANGE MASTER TO MASTER_HOST = ', QUOTE(host_name),
    ', MASTER_PORT = ', CAST(host_port AS UNSIGNED),
    ', MASTER_USER = ', QUOTE(replication_user_name),
    ', MASTER_PASSWORD = ', QUOTE(replication_user_password),
    ', MASTER_LOG_FILE = ', QUOTE(mysql_binary_log_file_name),
    ', MASTER_LOG_POS = ', CAST(mysql_binary_log_file_location AS UNSIGNED),
    ', MASTER_SSL = ', IF(ssl_encryption, 1, 0),
    ', MASTER_USE_GTID = no');
  PREPARE rds_change_master FROM @rds_change_master;
  -- The statement holds the password: forget it before anything can fail.
  SET @rds_change_master = NULL;
  EXECUTE rds_change_master;
  DEALLOCATE PREPARE rds_change_master;
END;

DROP PROCEDURE IF EXISTS mysql.rds_set_external_source;

CREATE PROCEDURE mysql.rds_set_external_source(
  host_name VARCHAR(255), host_port INT, replication_user_name VARCHAR(255),
  replication_user_password VARCHAR(255), mysql_binary_log_file_name VARCHAR(255),
  mysql_binary_log_file_location BIGINT UNSIGNED, ssl_encryption TINYINT)
BEGIN
  CALL mysql.rds_set_external_master(host_name, host_port, replication_user_name,
    replication_user_password, mysql_binary_log_file_name, mysql_binary_log_file_location,
    ssl_encryption);
END;

DROP PROCEDURE IF EXISTS mysql.rds_start_replication;

CREATE PROCEDURE mysql.rds_start_replication()
BEGIN
  START SLAVE;
END;

DROP PROCEDURE IF EXISTS mysql.rds_stop_replication;

CREATE PROCEDURE mysql.rds_stop_replication()
BEGIN
  STOP SLAVE;
END;

DROP PROCEDURE IF EXISTS mysql.rds_reset_external_master;

CREATE PROCEDURE mysql.rds_reset_external_master()
BEGIN
  STOP SLAVE;
  RESET SLAVE ALL;
END;

DROP PROCEDURE IF EXISTS mysql.rds_reset_external_source;

CREATE PROCEDURE mysql.rds_reset_external_source()
BEGIN
  CALL mysql.rds_reset_external_master();
END;

DROP PROCEDURE IF EXISTS mysql.rds_show_configuration;

CREATE PROCEDURE mysql.rds_show_configuration()
BEGIN
  SELECT name, value, description FROM mysql.rds_configuration ORDER BY name;
END;

DROP PROCEDURE IF EXISTS mysql.rds_set_configuration;

-- Also applies 'binlog retention hours' to the server's own binlog expiry so the setting has
-- its Aurora effect (NULL keeps binlogs forever here, where Aurora would purge them early).
CREATE PROCEDURE mysql.rds_set_configuration(config_name VARCHAR(100), config_value VARCHAR(100))
BEGIN
  UPDATE mysql.rds_configuration SET value = config_value WHERE name = config_name;
  IF config_name = 'binlog retention hours' THEN
    SET GLOBAL binlog_expire_logs_seconds = IFNULL(CAST(config_value AS UNSIGNED), 0) * 3600;
  END IF;
END;

DROP PROCEDURE IF EXISTS mysql.rds_kill;

-- Ends a connection, as Aurora's procedure does; like Aurora it will not end a session of
-- `rdsadmin` (the service's own user). A session gone meanwhile fails with ER_NO_SUCH_THREAD
-- (1094), as KILL does.
CREATE PROCEDURE mysql.rds_kill(processID BIGINT UNSIGNED)
BEGIN
  DECLARE owner VARCHAR(128) DEFAULT NULL;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET owner = NULL;
  SELECT USER INTO owner FROM information_schema.PROCESSLIST WHERE ID = processID;
  IF owner = 'rdsadmin' THEN
    SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1095, MESSAGE_TEXT = 'You are not owner of thread';
  END IF;
  KILL CONNECTION processID;
END;
